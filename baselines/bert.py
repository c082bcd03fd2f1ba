"""BERT (Devlin et al., 2019): the backbone fine-tuned with its sequence classifier, full depth.

The paper's first baseline and every cost's 100%. Static: all layers run, one head (pooler on
[CLS] + tanh, dropout, Linear), started from the backbone's pretrained pooler when it has one,
as ``BertForSequenceClassification`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F
from transformers import BertModel

from smartbert.encoder import LayeredEncoder
from smartbert.heads import PooledClassifier
from smartbert.model import EarlyExitModel
from smartbert.registry import Method, MethodConfig, Stage, final_logits, register


@dataclass
class BertMethodConfig(MethodConfig):
    """BERT fine-tuning (Devlin et al., 2019).

    Training hyper-parameters (lr, batch, epochs) live in the shared training config.
    """

    pretrained_pooler: bool = field(default=True, metadata={
        "help": "start the classifier's pooler from the backbone's pretrained pooler (else random)"})


def pooled_head(backbone: BertModel, num_labels: int, dropout: float, pretrained_pooler: bool) -> PooledClassifier:
    """BERT's classifier; its pooler copied from the backbone's when asked and available."""
    head = PooledClassifier(backbone.config.hidden_size, num_labels, dropout)
    if pretrained_pooler and backbone.pooler is not None:
        head.pooler.load_state_dict(backbone.pooler.dense.state_dict())
    return head


def final_cross_entropy(model: EarlyExitModel, batch: dict, epoch: int) -> tuple[torch.Tensor, dict]:
    loss = F.cross_entropy(final_logits(model, batch), batch["labels"])
    return loss, {"ce": loss}


@register
class Bert(Method):
    name = "bert"
    config_class = BertMethodConfig
    default_policy = "none"
    paper = "Devlin et al., 2019, BERT"

    def build(self, backbone: BertModel, num_labels: int, config: BertMethodConfig) -> EarlyExitModel:
        encoder = LayeredEncoder(backbone)
        head = pooled_head(backbone, num_labels, config.dropout, config.pretrained_pooler)
        return EarlyExitModel(encoder, {encoder.num_layers: head}, num_labels)

    def stages(self, config: BertMethodConfig) -> list[Stage]:
        return [Stage("finetune", trainable=lambda model: model.parameters(), loss=final_cross_entropy)]
