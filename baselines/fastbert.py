"""FastBERT (Liu et al., ACL 2020): a self-distilling BERT with adaptive inference time.

An exit classifier per layer (FastBERT's: tanh(Linear h->128), self-attention at width 128,
[CLS], tanh(Linear 128->128), Linear 128->labels, the same module SmartBERT uses). Stage 1
fine-tunes the backbone and the teacher (last) classifier; stage 2 freezes both and trains the
students (classifiers 1..L-1) by KL divergence to the teacher's distribution, no labels needed.
Exit when the normalised entropy, entropy / ln(#labels), is below the "speed" S.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch.nn import functional as F
from transformers import BertModel

from smartbert.core.config import AT_LEAST_ONE, POSITIVE, setting
from smartbert.methods.registry import (
    Method,
    MethodConfig,
    Stage,
    final_cross_entropy,
    frozen_exit_logits,
    frozen_layer_states,
    register,
)
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.frozen import frozen_inputs
from smartbert.modeling.heads import NARROW_WIDTH, ExitClassifier, check_head_width
from smartbert.modeling.model import EarlyExitModel


@dataclass
class FastBertConfig(MethodConfig):
    """FastBERT (Liu et al., 2020). Epochs follow the paper's shared protocol (section 4.3 of
    SmartBERT: same parameters for every method)."""

    width: int = field(default=NARROW_WIDTH, metadata=setting("classifier width (FastBERT: 128)", AT_LEAST_ONE))
    classifier_heads: int = field(default=2, metadata=setting("attention heads per classifier (FastBERT: 2)", AT_LEAST_ONE))
    stage1_epochs: int | None = field(default=None, metadata=setting(
        "backbone + teacher fine-tuning epochs (default: train.epochs)", AT_LEAST_ONE))
    stage2_epochs: int | None = field(default=None, metadata=setting("self-distillation epochs (default: train.epochs)", AT_LEAST_ONE))
    temperature: float = field(default=1.0, metadata=setting("softmax temperature of the distillation targets", POSITIVE))
    stage2_learning_rate: float | None = field(default=None, metadata=setting(
        "self-distillation learning rate (default: train.learning_rate; the official code: 10 x, 2e-4)", POSITIVE))
    stage2_keep: Literal["best", "last"] = field(default="best", metadata=setting(
        "distillation ends with its best epoch on the selection split (mean of the students) or its last (official)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_head_width(self.width, classifier_heads=self.classifier_heads)


def self_distillation(config: FastBertConfig):
    def loss(model: EarlyExitModel, batch: dict, epoch: int):
        teacher = F.softmax(frozen_inputs(model, batch, frozen_layer_states).rows["teacher"] / config.temperature, dim=-1)
        students = frozen_exit_logits(model, batch)  # [B, L-1, C]
        terms = [F.kl_div(F.log_softmax(students[:, k] / config.temperature, dim=-1), teacher, reduction="batchmean")
                 for k in range(students.shape[1])]
        total = torch.stack(terms).sum()
        return total, {"kl_sum": total}
    return loss


def exit_classifier_model(backbone: BertModel, num_labels: int, width: int, heads: int, dropout: float) -> EarlyExitModel:
    """The backbone with an :class:`ExitClassifier` at every layer."""
    encoder = LayeredEncoder(backbone)
    classifiers = {i: ExitClassifier(encoder.hidden_size, num_labels, width, heads, dropout)
                   for i in range(1, encoder.num_layers + 1)}
    return EarlyExitModel(encoder, classifiers, num_labels)


@register
class FastBert(Method[FastBertConfig]):
    name = "fastbert"
    config_class = FastBertConfig
    default_policy = "normalised_entropy"
    paper = "Liu et al., 2020, FastBERT"

    def build(self, backbone: BertModel, num_labels: int, config: FastBertConfig) -> EarlyExitModel:
        return exit_classifier_model(backbone, num_labels, config.width, config.classifier_heads, config.dropout)

    def stages(self, config: FastBertConfig) -> list[Stage]:
        def backbone_and_teacher(model: EarlyExitModel):
            yield from model.encoder.parameters()
            yield from model.head(model.num_layers).parameters()

        def students(model: EarlyExitModel):
            for layer in range(1, model.num_layers):
                yield from model.head(layer).parameters()

        return [Stage("finetune", backbone_and_teacher, final_cross_entropy, epochs=config.stage1_epochs),
                Stage("distill", students, self_distillation(config), score_logits=frozen_exit_logits, epochs=config.stage2_epochs,
                      learning_rate=config.stage2_learning_rate, keep=config.stage2_keep, frozen=frozen_layer_states)]
