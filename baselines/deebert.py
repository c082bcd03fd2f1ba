"""DeeBERT (Xin et al., ACL 2020): dynamic early exiting with off-ramps.

An off-ramp per layer (pooler-style Linear h->h + tanh on [CLS], dropout, Linear h->labels).
Stage 1 *is* the fine-tuned ``bert`` model (reused through ``--init-from``, never retrained);
stage 2 freezes it and trains off-ramps 1..L-1 on the sum of their cross-entropies. The last
exit is BERT's own trained classifier. Exit when entropy < S.

Differences from the official code (castorini/DeeBERT), on purpose: its off-ramp poolers are
copied from the backbone's *pretrained* pooler before stage 1 (an untrained near-zero layer on
MiniLM, which left every off-ramp at ln 2 entropy on RTE); ours copy BERT's classifier pooler
*after* stage 1 trained it (``offramp_init``, the code's choice is ``backbone_pooler``). Its last
off-ramp is never trained yet consulted at inference; ours uses the trained classifier there.

On all-MiniLM-L6-v2 (trained for mean pooling) the [CLS] state of layers 1-3 of the fine-tuned
model carries no linearly decodable label information (a logistic-regression probe on SST-2 sits
at the majority class while the tokens' mean reaches 78-83%), so [CLS] off-ramps there cannot
learn whatever the recipe; ``offramp_pooling: mean`` shows what they could do with the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

from transformers import BertModel

from smartbert.core.config import AT_LEAST_ONE, POSITIVE, setting
from smartbert.methods.registry import Method, MethodConfig, Stage, frozen_exit_logits, frozen_layer_states, register
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import PooledClassifier, pooled_head
from smartbert.modeling.losses import per_exit_cross_entropy
from smartbert.modeling.model import EarlyExitModel


@dataclass
class DeeBertConfig(MethodConfig):
    """DeeBERT (Xin et al., 2020)."""

    offramp_init: Literal["trained_pooler", "fresh", "backbone_pooler"] = field(default="trained_pooler", metadata={
        "help": "off-ramp poolers start from BERT's fine-tuned classifier pooler (ours), at random, or from the "
                "backbone's pretrained pooler (official code)"})
    stage2_epochs: int | None = field(default=None, metadata=setting("off-ramp training epochs (default: train.epochs)", AT_LEAST_ONE))
    stage2_learning_rate: float | None = field(default=None, metadata=setting(
        "off-ramp training learning rate (default: train.learning_rate, as the official code)", POSITIVE))
    offramp_pooling: Literal["cls", "mean"] = field(default="cls", metadata={
        "help": "off-ramps read [CLS] (paper, official code) or the mean of the tokens (a diagnostic for backbones "
                "whose early [CLS] carries no label information, e.g. mean-pooling-trained MiniLM)"})


def offramp_cross_entropy(model: EarlyExitModel, batch: dict, epoch: int):
    logits = frozen_exit_logits(model, batch)  # [B, L-1, C]
    total = per_exit_cross_entropy(logits, batch["labels"]).sum()
    return total, {"ce_sum": total}


@register
class DeeBert(Method[DeeBertConfig]):
    name = "deebert"
    config_class = DeeBertConfig
    default_policy = "entropy"
    paper = "Xin et al., 2020, DeeBERT"

    def build(self, backbone: BertModel, num_labels: int, config: DeeBertConfig) -> EarlyExitModel:
        encoder = LayeredEncoder(backbone)
        layers = encoder.num_layers
        heads = {i: PooledClassifier(encoder.hidden_size, num_labels, config.dropout, config.offramp_pooling)
                 for i in range(1, layers)}
        heads[layers] = pooled_head(backbone, num_labels, config.dropout, pretrained_pooler=True)
        if config.offramp_init == "backbone_pooler" and backbone.pooler is not None:
            for layer in range(1, layers):
                heads[layer].pooler.load_state_dict(backbone.pooler.dense.state_dict())
        return EarlyExitModel(encoder, heads, num_labels)

    def stages(self, config: DeeBertConfig) -> list[Stage]:
        def after_reuse(model: EarlyExitModel) -> None:
            if config.offramp_init == "trained_pooler":
                trained = cast(PooledClassifier, model.head(model.num_layers)).pooler.state_dict()
                for layer in range(1, model.num_layers):
                    cast(PooledClassifier, model.head(layer)).pooler.load_state_dict(trained)

        def offramps(model: EarlyExitModel):
            for layer in range(1, model.num_layers):
                yield from model.head(layer).parameters()

        return [Stage("finetune", trainable=lambda model: [], loss=offramp_cross_entropy, reuse="bert", after_reuse=after_reuse),
                Stage("offramps", offramps, offramp_cross_entropy, score_logits=frozen_exit_logits, epochs=config.stage2_epochs,
                      learning_rate=config.stage2_learning_rate, frozen=frozen_layer_states)]
