"""PABEE (Zhou et al., NeurIPS 2020): BERT loses patience, patience-based early exit.

A classifier per layer (BERT's pooler + Linear on [CLS], one per layer; ``pooler: shared`` shares
the backbone's pretrained pooler among them, as the official code does), trained jointly with
the backbone on the weighted average of the layers' losses, sum_j j * L_j / sum_j j (deeper
layers weigh more). Exit once the prediction stayed the same for ``patience`` consecutive layers;
in sweeps the threshold is the patience.

Added by following README's "Adding a baseline" and nothing more: this file is the whole change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from transformers import BertModel

from smartbert.methods.registry import Method, MethodConfig, Stage, exit_logits, register
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import PooledClassifier
from smartbert.modeling.losses import per_exit_cross_entropy
from smartbert.modeling.model import EarlyExitModel


@dataclass
class PabeeConfig(MethodConfig):
    """PABEE (Zhou et al., 2020). ``dropout`` is the classifiers' dropout; the patience is the
    policy's threshold (``smartbert sweep --thresholds 1,2,3``)."""

    pooler: Literal["per_layer", "shared"] = field(default="per_layer", metadata={
        "help": "per_layer: each layer's classifier has its own pooler (random init); shared: the backbone's pretrained "
                "pooler, one module for every layer, each with its own Linear (the official code)"})


def weighted_average_loss(model: EarlyExitModel, batch: dict, epoch: int):
    logits = exit_logits(model, batch)  # [B, L, C]
    weights = torch.arange(1, model.num_layers + 1, dtype=torch.float32, device=logits.device)
    losses = per_exit_cross_entropy(logits, batch["labels"])
    total = (weights * losses).sum() / weights.sum()
    return total, {"weighted_ce": total}


@register
class Pabee(Method[PabeeConfig]):
    name = "pabee"
    config_class = PabeeConfig
    default_policy = "patience"
    paper = "Zhou et al., 2020, PABEE"

    def build(self, backbone: BertModel, num_labels: int, config: PabeeConfig) -> EarlyExitModel:
        encoder = LayeredEncoder(backbone)
        heads = {i: PooledClassifier(encoder.hidden_size, num_labels, config.dropout) for i in range(1, encoder.num_layers + 1)}
        if config.pooler == "shared":
            shared = heads[1].pooler
            if backbone.pooler is not None:
                shared.load_state_dict(backbone.pooler.dense.state_dict())
            for head in heads.values():
                head.pooler = shared  # one module: every layer's loss trains it
        return EarlyExitModel(encoder, heads, num_labels)

    def stages(self, config: PabeeConfig) -> list[Stage]:
        return [Stage("joint", lambda model: model.parameters(), weighted_average_loss, score_logits=exit_logits)]
