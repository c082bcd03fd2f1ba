"""BERT (Devlin et al., 2019): the backbone fine-tuned with its sequence classifier, full depth.

The paper's first baseline and every cost's 100%. Static: all layers run, one head (pooler on
[CLS] + tanh, dropout, Linear), started from the backbone's pretrained pooler when it has one,
as ``BertForSequenceClassification`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import BertModel

from smartbert.methods.registry import Method, MethodConfig, Stage, final_cross_entropy, register
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import pooled_head
from smartbert.modeling.model import EarlyExitModel


@dataclass
class BertMethodConfig(MethodConfig):
    """BERT fine-tuning (Devlin et al., 2019).

    Training hyper-parameters (lr, batch, epochs) live in the shared training config.
    """

    pretrained_pooler: bool = field(default=True, metadata={
        "help": "start the classifier's pooler from the backbone's pretrained pooler (else random)"})


@register
class Bert(Method[BertMethodConfig]):
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
