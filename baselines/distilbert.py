"""DistilBERT (Sanh et al., 2019): a half-depth student distilled from BERT.

The paper's baseline is the released ``distilbert-base-uncased``. For a backbone without a
distilled release (MiniLM, tiny) this is DistilBERT's recipe applied to it, and tables label it
so: the student keeps every other layer of the backbone (initialised from them, as DistilBERT
was from BERT) and is fine-tuned on (1 - alpha) * CE + alpha * T^2 * KL(teacher_T || student_T),
the teacher being the fine-tuned ``bert`` model of the same backbone and task
(``--init-from bert=DIR``). Cost % stays relative to the full-depth backbone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn
from torch.nn import functional as F
from transformers import BertModel

from smartbert.core.config import POSITIVE, WEIGHT, setting
from smartbert.methods.registry import Method, MethodConfig, Stage, final_logits, register
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import pooled_head
from smartbert.modeling.model import EarlyExitModel


@dataclass
class DistilBertConfig(MethodConfig):
    """DistilBERT (Sanh et al., 2019) as a task-specific student of the backbone."""

    halve: bool = field(default=True, metadata={"help": "keep every other layer (False for an already distilled backbone)"})
    distill_weight: float = field(default=0.5, metadata=setting("alpha: weight of the distillation term (0 = plain fine-tuning)", WEIGHT))
    temperature: float = field(default=2.0, metadata=setting("T of the softened teacher and student distributions", POSITIVE))


def student_layers(num_layers: int) -> list[int]:
    """Every other layer, ending with the last: 12 -> 1,3,...,11 (0-based), 6 -> 1,3,5."""
    return list(range(num_layers - 1, -1, -2))[::-1]


def distillation_loss(config: DistilBertConfig):
    def loss(model: EarlyExitModel, batch: dict, epoch: int):
        logits = final_logits(model, batch)
        ce = F.cross_entropy(logits, batch["labels"])
        if config.distill_weight == 0:
            return ce, {"ce": ce}
        t = config.temperature
        kd = F.kl_div(F.log_softmax(logits / t, -1), F.softmax(batch["teacher_logits"] / t, -1), reduction="batchmean") * t * t
        return (1 - config.distill_weight) * ce + config.distill_weight * kd, {"ce": ce, "kd": kd}
    return loss


@register
class DistilBert(Method[DistilBertConfig]):
    name = "distilbert"
    config_class = DistilBertConfig
    default_policy = "none"
    paper = "Sanh et al., 2019, DistilBERT"

    def label(self, config: dict) -> str:
        """Tables say when this is DistilBERT's recipe on another backbone, not the released model."""
        return "DistilBERT (half-depth student)" if config.get("halve", True) else self.display_name

    def build(self, backbone: BertModel, num_labels: int, config: DistilBertConfig) -> EarlyExitModel:
        encoder = LayeredEncoder(backbone)
        if config.halve:
            encoder.layers = nn.ModuleList([encoder.layers[i] for i in student_layers(len(encoder.layers))])
        head = pooled_head(backbone, num_labels, config.dropout, pretrained_pooler=True)
        return EarlyExitModel(encoder, {encoder.num_layers: head}, num_labels)

    def stages(self, config: DistilBertConfig) -> list[Stage]:
        return [Stage("distill", lambda model: model.parameters(), distillation_loss(config),
                      teacher="bert" if config.distill_weight > 0 else None)]
