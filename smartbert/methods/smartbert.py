"""SmartBERT (Hu et al., IJCAI 2023): dynamic early exiting combined with layer skipping.

A skipping gate and an exit classifier per layer. Inference (eqs. 9-10): gate i skips layer i
iff G >= 0.5; where the layer ran, classifier i exits iff entropy < S. Training in two stages:

- stage 1 (eq. 3): backbone + gates + last classifier on CE + lambda / sum_i G^i + eta1 * CCL
  over consecutive layers' token representations (eq. 4); gates soft (eq. 1), hard
  (straight-through, eqs. 11-12), or SP: soft for the first epochs, then hard (section 3.6).
- stage 2 (eq. 8): stage 1 frozen; classifiers 1..L-1 on sum_i CE_i + eta2 * CCL over the
  classifiers' self-attention outputs (eqs. 5-6), with hard gates as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertModel

from smartbert.core.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, setting
from smartbert.core.errors import SmartBertError
from smartbert.methods.registry import Method, MethodConfig, Stage, register
from smartbert.modeling.encoder import LayeredEncoder, additive_mask
from smartbert.modeling.frozen import FrozenInputs, frozen_inputs
from smartbert.modeling.heads import NARROW_WIDTH, ExitClassifier, SkipGate, check_head_width
from smartbert.modeling.losses import consecutive_contrastive, hard_gate, skip_regulariser
from smartbert.modeling.model import EarlyExitModel


@dataclass
class SmartBertConfig(MethodConfig):
    """SmartBERT's hyper-parameters (paper section 3; defaults from the official run script,
    github HuBoren99/SmartBert ``run.sh``, where the paper gives no number).

    Fidelity options: where the official code differs from the paper, the default follows the
    paper and the option selects the code's behaviour (README, "Fidelity").
    """

    lam: float = field(default=0.04, metadata=setting(
        "lambda of eq. 3: weight of the skip reward lambda / sum_i G^i (run.sh: 0.04)", NON_NEGATIVE))
    eta1: float = field(default=0.01, metadata=setting(
        "eta of eq. 3: weight of stage 1's cross-layer contrastive loss (run.sh: 0.01)", NON_NEGATIVE))
    eta2: float = field(default=0.05, metadata=setting("eta of eq. 8: weight of stage 2's contrastive loss (run.sh: 0.05)", NON_NEGATIVE))
    t1: float = field(default=0.5, metadata=setting("temperature tau of eq. 4 (stage 1)", POSITIVE))
    t2: float = field(default=0.55, metadata=setting("temperature tau of eq. 5 (stage 2)", POSITIVE))
    gate_mode: Literal["sp", "soft", "hard"] = field(default="sp", metadata=setting(
        "stage-1 gate weights: soft (eq. 1), hard (eqs. 11-12) or sp (soft, then hard; section 3.6)"))
    soft_epochs: int = field(default=3, metadata=setting(
        "SP: epochs with soft gates before switching to hard (official: 3 of 5)", NON_NEGATIVE))
    stage1_epochs: int = field(default=5, metadata=setting("stage 1 epochs (paper section 4.3: 5)", AT_LEAST_ONE))
    stage2_epochs: int = field(default=4, metadata=setting("stage 2 epochs (paper section 4.3: 4)", AT_LEAST_ONE))
    width: int = field(default=NARROW_WIDTH, metadata=setting("width of gates, classifiers and projection heads (128)", AT_LEAST_ONE))
    classifier_heads: int = field(default=4, metadata=setting("attention heads of each exit classifier (official 4)", AT_LEAST_ONE))
    gate_heads: int = field(default=2, metadata=setting("attention heads of each gate (paper: 2)", AT_LEAST_ONE))
    loss_mixing: Literal["paper", "official"] = field(default="paper", metadata=setting(
        "paper: CE + reg + eta*CCL; official: (1 - eta) * (CE + reg) + eta * CCL"))
    stage2_input: Literal["gated", "raw"] = field(default="gated", metadata=setting(
        "classifier i reads the gated X^i (paper) or the raw layer output E_i(X^{i-1}) (official)"))
    stage2_contrast: Literal["paper", "official"] = field(default="paper", metadata=setting(
        "paper: CCL on the classifiers' self-attention outputs through one projection, positive in the denominator, "
        "mean over the pairs of classifiers 1..L (eqs. 5-6); official: on the pre-attention features through one "
        "projection per classifier, negatives only in the denominator, pairs of classifiers 1..L-2 summed over L-2"))
    stage1_contrast: Literal["paper", "official"] = field(default="paper", metadata=setting(
        "paper: CCL over X^1..X^L through one projection, mean over the L-1 pairs (eq. 4); official: over the layers' "
        "inputs X^0..X^{L-1}, one projection per layer, summed over the pairs", hashed_at_default=False))
    contrast_padding: bool = field(default=False, metadata=setting(
        "let padding tokens take part in CCL (the official code pads to 128 and includes them)"))
    stage2_keep: Literal["best", "last"] = field(default="best", metadata=setting(
        "stage 2 ends with its best epoch on the selection split (mean of classifiers 1..L-1) or its last "
        "(the official code never evaluates stage 2)"))
    gate_init_skip: float | None = field(default=None, metadata=setting(
        "each gate's starting probability of skipping its layer: null keeps PyTorch's initialisation, near 0.5 (the "
        "official models/Gate.py; the paper gives none); e.g. 0.05 starts every layer near 'run', so the soft phase of "
        "eq. 1 does not blend each pretrained layer half-and-half with its input", FRACTION, hashed_at_default=False))
    stage2_dropout: bool = field(default=False, metadata=setting(
        "dropout on in the frozen stage-1 pass of stage 2 (the official code calls model.train()); off: the "
        "classifiers see the features they will see at inference"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gate_mode == "sp" and not self.soft_epochs <= self.stage1_epochs:
            raise SmartBertError(f"soft_epochs must be within 0..stage1_epochs ({self.stage1_epochs}), got {self.soft_epochs}")
        check_head_width(self.width, classifier_heads=self.classifier_heads, gate_heads=self.gate_heads)

    def hard_at(self, epoch: int) -> bool:
        """Whether stage-1 epoch ``epoch`` (0-based) trains with hard gates."""
        return self.gate_mode == "hard" or (self.gate_mode == "sp" and epoch >= self.soft_epochs)


def _projection(hidden: int, width: int) -> nn.Module:
    """The projection f of eqs. 4-5 (Linear, LayerNorm, tanh, Linear, as the official code)."""
    return nn.Sequential(nn.Linear(hidden, width), nn.LayerNorm(width), nn.Tanh(), nn.Linear(width, width))


@dataclass
class GatedPass:
    final: torch.Tensor                 # X^L
    states: list[torch.Tensor]          # X^1..X^L
    raw: list[torch.Tensor]             # E_i(X^{i-1}), i = 1..L
    gate_probs: list[torch.Tensor]      # G^i(X^{i-1}), [B] each
    mask: torch.Tensor | None           # additive 4D mask
    initial: torch.Tensor | None = None  # X^0, the embeddings


def gated_pass(model: EarlyExitModel, batch: dict, hard: bool) -> GatedPass:
    """Training path of eq. 1: X^i = G X^{i-1} + (1 - G) E_i(X^{i-1}), G soft or hard (eq. 11)."""
    hidden = initial = model.encoder.embed(batch["input_ids"], batch["token_type_ids"])
    mask = additive_mask(batch["attention_mask"], hidden.dtype)
    states, raw, probs = [], [], []
    for i in range(model.num_layers):
        prob = model.gate_modules()[i](hidden, mask)
        weight = (hard_gate(prob) if hard else prob).view(-1, 1, 1)
        out = model.encoder.layer(i, hidden, mask)
        hidden = _mix_layer(hidden, out, weight)
        states.append(hidden)
        raw.append(out)
        probs.append(prob)
    return GatedPass(hidden, states, raw, probs, mask, initial)


def _mix_layer(skipped: torch.Tensor, computed: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """G X + (1 - G) E(X) (eq. 1) as one operator, in the promoted dtype (as the sum would be under
    autocast; promoted on the host, only where the dtypes differ); a hard weight of exactly 0 or 1
    gives exactly E(X) or X."""
    if not skipped.dtype == computed.dtype == weight.dtype:
        dtype = torch.promote_types(torch.promote_types(computed.dtype, skipped.dtype), weight.dtype)
        skipped, computed, weight = skipped.to(dtype), computed.to(dtype), weight.to(dtype)
    return torch.lerp(computed, skipped, weight)


def _contrast_mask(batch: dict, config: SmartBertConfig) -> torch.Tensor | None:
    return None if config.contrast_padding else batch["attention_mask"]


def _mix(task: torch.Tensor, contrast: torch.Tensor, eta: float, config: SmartBertConfig) -> torch.Tensor:
    return task + eta * contrast if config.loss_mixing == "paper" else (1 - eta) * task + eta * contrast


def summed_pairs(features: list[torch.Tensor], attention_mask: torch.Tensor | None, temperature: float,
                 positive_in_denominator: bool = True) -> torch.Tensor:
    """The official code's CCL: the consecutive pairs' InfoNCE summed (not averaged over the pairs)."""
    if len(features) < 2:
        return features[0].new_zeros(())
    pairs = len(features) - 1
    return consecutive_contrastive(torch.stack(features), attention_mask, temperature, positive_in_denominator) * pairs


def stage1_contrast(model: EarlyExitModel, run: GatedPass, batch: dict, config: SmartBertConfig) -> torch.Tensor:
    """Eq. 4 over X^1..X^L through one projection (paper), or the official code's: the layers' inputs
    X^0..X^{L-1}, X^j through projection j, summed over the pairs."""
    mask = _contrast_mask(batch, config)
    if config.stage1_contrast == "paper":
        # every layer's projection and every pair's contrast at once: [L, B, T, width]
        return consecutive_contrastive(model.extras["stage1_projection"](torch.stack(run.states)), mask, config.t1)
    inputs = [run.initial, *run.states[:-1]]
    projections = cast(nn.ModuleList, model.extras["stage1_projections"])
    return summed_pairs([f(x) for f, x in zip(projections, inputs, strict=True)], mask, config.t1)


def stage1_loss(config: SmartBertConfig):
    def loss(model: EarlyExitModel, batch: dict, epoch: int):
        run = gated_pass(model, batch, hard=config.hard_at(epoch))
        ce = F.cross_entropy(model.head(model.num_layers)(run.final, run.mask), batch["labels"])
        probs = torch.stack(run.gate_probs)  # [L, B]
        reg = skip_regulariser(probs, config.lam)
        ccl = stage1_contrast(model, run, batch, config)
        total = _mix(ce + reg, ccl, config.eta1, config)
        return total, {"ce": ce, "skip_reg": reg, "ccl": ccl, "mean_gate": probs.detach().mean()}
    return loss


def gated_final_logits(model: EarlyExitModel, batch: dict) -> torch.Tensor:
    """The last classifier after hard gates: the skip-only inference path (Table 3)."""
    run = gated_pass(model, batch, hard=True)
    return model.head(model.num_layers)(run.final, run.mask)


def stage2_inputs(config: SmartBertConfig):
    """Stage 2's inputs: the frozen stage-1 model along hard gates, as at inference, no gradient;
    classifier i reads the gated X^i (paper) or the raw E_i(X^{i-1}) (official): [B, T, L, H]."""
    def frozen(model: EarlyExitModel, batch: dict) -> FrozenInputs:
        run = gated_pass(model, batch, hard=True)
        return FrozenInputs(tokens={"inputs": torch.stack(run.states if config.stage2_input == "gated" else run.raw, dim=2)})
    return frozen


def intermediate_logits(config: SmartBertConfig):
    """[B, L-1, C] logits of classifiers 1..L-1 on their stage-2 inputs (how stage 2 is scored)."""
    def logits(model: EarlyExitModel, batch: dict) -> torch.Tensor:
        inputs = frozen_inputs(model, batch, stage2_inputs(config)).tokens["inputs"]
        mask = additive_mask(batch["attention_mask"], inputs.dtype)
        return torch.stack([model.head(i + 1)(inputs[:, :, i], mask) for i in range(model.num_layers - 1)], dim=1)
    return logits


def stage2_loss(config: SmartBertConfig):
    def loss(model: EarlyExitModel, batch: dict, epoch: int):
        inputs = frozen_inputs(model, batch, stage2_inputs(config)).tokens["inputs"]
        mask = additive_mask(batch["attention_mask"], inputs.dtype)
        ce_terms, features = [], []
        official = config.stage2_contrast == "official"
        for i in range(model.num_layers - (1 if official else 0)):
            head = cast(ExitClassifier, model.head(i + 1))
            if not official:
                states = head.token_states(inputs[:, :, i], mask)          # H^i (eq. 5)
            else:
                states = torch.tanh(head.narrow(inputs[:, :, i]))              # official: pre-attention
            if i < model.num_layers - 1:
                logits = head(inputs[:, :, i], mask) if official else head.classify(states)
                ce_terms.append(F.cross_entropy(logits, batch["labels"]))
            if not official:
                features.append(states)
            elif i < model.num_layers - 2:  # official: classifiers 1..L-2, each through its own projection
                features.append(cast(nn.ModuleList, model.extras["stage2_projections"])[i](states))
        ce = torch.stack(ce_terms).sum()
        if official:
            ccl = summed_pairs(features, _contrast_mask(batch, config), config.t2, positive_in_denominator=False)
            ccl = ccl / (model.num_layers - 2)
        else:  # one projection for every classifier's states at once: [L, B, T, width]
            projected = model.extras["stage2_projection"](torch.stack(features))
            ccl = consecutive_contrastive(projected, _contrast_mask(batch, config), config.t2)
        return _mix(ce, ccl, config.eta2, config), {"ce_sum": ce, "ccl": ccl}
    return loss


@register
class SmartBert(Method[SmartBertConfig]):
    name = "smartbert"
    config_class = SmartBertConfig
    default_policy = "entropy"
    paper = "Hu et al., IJCAI 2023, SmartBERT"

    def build(self, backbone: BertModel, num_labels: int, config: SmartBertConfig) -> EarlyExitModel:
        encoder = LayeredEncoder(backbone)
        hidden, layers = encoder.hidden_size, encoder.num_layers
        heads = {i: ExitClassifier(hidden, num_labels, config.width, config.classifier_heads, config.dropout)
                 for i in range(1, layers + 1)}
        gates = [SkipGate(hidden, config.width, config.gate_heads, config.dropout, config.gate_init_skip) for _ in range(layers)]
        if config.stage2_contrast == "official" and layers < 3:
            raise SmartBertError(f"stage2_contrast: official contrasts classifiers 1..L-2 and needs 3 layers or more, got {layers}")
        extras: dict[str, nn.Module] = {}
        if config.stage1_contrast == "paper":
            extras["stage1_projection"] = _projection(hidden, config.width)
        else:  # the official code: one projection per layer input X^0..X^{L-1}
            extras["stage1_projections"] = nn.ModuleList(_projection(hidden, config.width) for _ in range(layers))
        if config.stage2_contrast == "paper":
            extras["stage2_projection"] = _projection(config.width, config.width)
        else:  # the official code: one per classifier (its Classifier.main) that enters a pair, 1..L-2
            extras["stage2_projections"] = nn.ModuleList(_projection(config.width, config.width) for _ in range(layers - 2))
        return EarlyExitModel(encoder, heads, num_labels, gates, extras)

    def stages(self, config: SmartBertConfig) -> list[Stage]:
        def stage1_params(model: EarlyExitModel):
            yield from model.encoder.parameters()
            yield from model.gate_modules().parameters()
            yield from model.head(model.num_layers).parameters()
            for key in ("stage1_projection", "stage1_projections"):
                if key in model.extras:
                    yield from model.extras[key].parameters()

        def stage2_params(model: EarlyExitModel):
            for layer in range(1, model.num_layers):
                yield from model.head(layer).parameters()
            for key in ("stage2_projection", "stage2_projections"):
                if key in model.extras:
                    yield from model.extras[key].parameters()

        return [
            Stage("stage1", stage1_params, stage1_loss(config), score_logits=gated_final_logits, epochs=config.stage1_epochs),
            Stage("stage2", stage2_params, stage2_loss(config), score_logits=intermediate_logits(config), epochs=config.stage2_epochs,
                  keep=config.stage2_keep, frozen_dropout=config.stage2_dropout,
                  # padding reads zero from the cache: a contrast over padding tokens computes it live
                  frozen=None if config.contrast_padding else stage2_inputs(config)),
        ]
