"""SmartBERT, ours against another implementation: the two sides, the parameter links to the official
code, and the checks of stage 1 (eqs. 1, 3, 4, 11-12), stage 2 (eqs. 5-8) and inference (eqs. 9-10).

A side answers the same questions for both implementations:

- ``stage1(batch, hard, term)``: a scalar of the stage-1 loss, ``term`` in ``ce`` (CE of the last
  classifier on the gated X^L), ``skip`` (lambda / sum_i G^i), ``ccl`` (the contrastive term as it
  enters the loss) or ``total``;
- ``stage2(batch, term)``: ``ce_sum``, ``ccl`` (as it enters the loss) or ``total``;
  ``stage2_ce(batch)``: each intermediate classifier's CE (eq. 7);
- ``infer(example, threshold, use_gates)``: the inference loop on one example (eqs. 9-10).

The official code returns only its total loss, so its terms are read by setting its weights:
lambda = eta = 0 gives CE (0 * x is exactly 0), eta = 1 gives the contrastive term alone, and the skip
term is lambda x (loss at lambda = 1 minus loss at lambda = 0); its per-classifier CE and
every gate's probability are read by forward hooks on its modules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from equivalence.compare import (
    Check,
    Tolerance,
    compare_decisions,
    compare_gradients,
    compare_max_abs,
    compare_scalar,
    summarise_gradients,
)
from equivalence.mapping import Link, Mapping, check_mapping, copy_weights, our_gradients, their_gradients
from smartbert.data.encode import EncodedSplit
from smartbert.inference.dynamic import predict_one
from smartbert.inference.record import record_trace
from smartbert.methods.smartbert import SmartBertConfig, intermediate_logits, stage1_loss, stage2_loss
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.policies import EntropyExit
from smartbert.replay.trace import replay

STAGE1_TERMS = ("ce", "skip", "ccl", "total")
STAGE2_TERMS = ("ce_sum", "ccl", "total")
GRADIENT_TERMS = {"stage1": ("total", "ce", "ccl"), "stage2": ("total", "ce_sum", "ccl")}


@dataclass
class Decision:
    """One example through an inference loop: layers skipped (1-based), the exit layer, the
    prediction, each evaluated head's logits by layer (where its layer ran), gate probabilities by layer."""

    skipped: list[int]
    exit_layer: int
    prediction: int
    head_logits: dict[int, torch.Tensor] = field(default_factory=dict)
    gate_probs: dict[int, float] = field(default_factory=dict)


class Side(Protocol):
    name: str
    model: nn.Module

    def stage1(self, batch: dict, hard: bool, term: str) -> torch.Tensor: ...
    def stage2(self, batch: dict, term: str) -> torch.Tensor: ...
    def stage2_ce(self, batch: dict) -> list[torch.Tensor]: ...
    def infer(self, example: dict, threshold: float, use_gates: bool) -> Decision: ...


def zero_dropout(model: nn.Module) -> nn.Module:
    """Every dropout of ``model`` off (nn.Dropout p = 0; our narrow attentions' float rate 0)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0
    return model


# ---------------------------------------------------------------- ours


class OurSmartBert:
    """Our SmartBERT through the library's own loss functions (``smartbert.methods.smartbert``) and
    inference paths (batch-1 ``predict_one`` and trace + replay)."""

    def __init__(self, model: EarlyExitModel, config: SmartBertConfig, name: str = "ours") -> None:
        self.model, self.config, self.name = model, config, name

    def _config(self, hard: bool) -> SmartBertConfig:
        return dataclasses.replace(self.config, gate_mode="hard" if hard else "soft")

    def stage1(self, batch: dict, hard: bool, term: str) -> torch.Tensor:
        self.model.train()
        total, terms = stage1_loss(self._config(hard))(self.model, batch, 0)
        return {"total": total, "ce": terms["ce"], "skip": terms["skip_reg"], "ccl": terms["ccl"]}[term]

    def stage2(self, batch: dict, term: str) -> torch.Tensor:
        self.model.train()
        total, terms = stage2_loss(self.config)(self.model, batch, 0)
        return {"total": total, "ce_sum": terms["ce_sum"], "ccl": terms["ccl"]}[term]

    def stage2_ce(self, batch: dict) -> list[torch.Tensor]:
        self.model.train()
        logits = intermediate_logits(self.config)(self.model, batch)
        return [F.cross_entropy(logits[:, k], batch["labels"]) for k in range(logits.shape[1])]

    def infer(self, example: dict, threshold: float, use_gates: bool) -> Decision:
        """Batch 1, unpadded: exit and prediction from ``predict_one``; per-layer logits and gate
        probabilities from the same walk it takes (every layer, read where the loop evaluated them)."""
        self.model.eval()
        ids, types = example["input_ids"], example["token_type_ids"]
        result = predict_one(self.model, ids, types, EntropyExit(threshold), use_gates)
        steps = list(self.model.walk(ids, types, None, use_gates))[: result.exit_layer]
        return Decision(
            skipped=[s.layer for s in steps if not bool(s.ran[0])],
            exit_layer=result.exit_layer,
            prediction=result.prediction,
            head_logits={s.layer: s.logits[0].clone() for s in steps if bool(s.ran[0]) and bool(s.evaluated[0])},
            gate_probs={s.layer: float(s.gate_prob[0]) for s in steps if s.gate_prob is not None},
        )

    def replay_decisions(self, data: EncodedSplit, threshold: float, use_gates: bool) -> list[Decision]:
        """The replay path: one batched trace (padded to each batch's longest), the policy replayed."""
        trace = record_trace(self.model, data, batch_size=16, use_gates=use_gates)
        outcome = replay(trace, EntropyExit(threshold))
        decisions = []
        for i in range(len(data)):
            exit_layer = int(outcome.exit_layer[i])
            ran = trace.ran[i, :exit_layer]
            decisions.append(Decision(
                skipped=[layer + 1 for layer in range(exit_layer) if not ran[layer]],
                exit_layer=exit_layer, prediction=int(outcome.prediction[i]),
                head_logits={layer + 1: torch.from_numpy(trace.logits[i, layer]) for layer in range(exit_layer)
                             if ran[layer] and trace.evaluated[i, layer]},
                gate_probs={layer + 1: float(trace.gate_prob[i, layer]) for layer in range(exit_layer)} if use_gates else {},
            ))
        return decisions


# ---------------------------------------------------------------- the official code


class OfficialSmartBert:
    """The official ``models/SmartBert.py`` run as its ``main.py`` runs it: ``model.train()`` and
    ``train_first_stage=True`` for stage 1, ``is_hard_weight = True`` and ``model.train()`` for stage 2,
    ``model.eval()`` with ``is_exit=True`` at batch 1 (inputs padded to 128) for inference."""

    def __init__(self, model: nn.Module, config: SmartBertConfig, name: str = "official") -> None:
        self.model, self.config, self.name = model, config, name
        self.model.set_t1(config.t1)
        self.model.set_t2(config.t2)

    def _stage1_loss(self, batch: dict, hard: bool, lam: float, eta1: float) -> torch.Tensor:
        self.model.train()
        self.model.set_skipped_rate(0.5)  # init_model(): the hard weights threshold on it too (inference may set 1.0)
        self.model.set_hard_weight_mechanism(hard)
        self.model.set_lamada(lam)
        self.model.set_eta1(eta1)
        loss, _ = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             token_type_ids=batch["token_type_ids"], labels=batch["labels"], train_first_stage=True)
        return loss

    def stage1(self, batch: dict, hard: bool, term: str) -> torch.Tensor:
        lam, eta1 = self.config.lam, self.config.eta1
        if term == "total":
            return self._stage1_loss(batch, hard, lam, eta1)
        if term == "ce":
            return self._stage1_loss(batch, hard, 0.0, 0.0)
        if term == "ccl":
            return self._stage1_loss(batch, hard, 0.0, 1.0)
        with torch.no_grad():  # skip: lambda / sum G = lambda x ((CE + 1 / sum G) - CE)
            return lam * (self._stage1_loss(batch, hard, 1.0, 0.0) - self._stage1_loss(batch, hard, 0.0, 0.0))

    def _stage2_loss(self, batch: dict, eta2: float) -> torch.Tensor:
        self.model.train()
        self.model.set_skipped_rate(0.5)
        self.model.is_hard_weight = True  # main.py's train() for the second stage
        self.model.set_eta2(eta2)
        loss, _ = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             token_type_ids=batch["token_type_ids"], labels=batch["labels"])
        return loss

    def stage2(self, batch: dict, term: str) -> torch.Tensor:
        return self._stage2_loss(batch, {"total": self.config.eta2, "ce_sum": 0.0, "ccl": 1.0}[term])

    def stage2_ce(self, batch: dict) -> list[torch.Tensor]:
        classifiers = list(self.model.classifier)[:-1]
        with Recorder(classifiers) as seen, torch.no_grad():
            self._stage2_loss(batch, self.config.eta2)
        return [F.cross_entropy(seen.calls[k][0][0], batch["labels"]) for k in range(len(classifiers))]

    def infer(self, example: dict, threshold: float, use_gates: bool) -> Decision:
        """``is_exit=True`` as ``main.py``'s evaluate(); gates off as its first pass at S = 0 does
        (``skipped_rate`` 1.0). Inputs padded to 128 as its features are."""
        model = self.model
        model.eval()
        model.threshold = threshold
        model.set_skipped_rate(0.5 if use_gates else 1.0)
        with Recorder(list(model.gate)) as gates, Recorder(list(model.classifier)) as heads, torch.no_grad():
            logits, skipped, exited = model(input_ids=example["input_ids"], attention_mask=example["attention_mask"],
                                            token_type_ids=example["token_type_ids"], is_exit=True)
        skipped_set = set(skipped)
        head_logits = {k + 1: calls[0][0][0].clone() for k, calls in heads.calls.items() if (k + 1) not in skipped_set}
        return Decision(skipped=list(skipped), exit_layer=int(exited[0]), prediction=int(logits[0].argmax()),
                        head_logits=head_logits,
                        gate_probs={k + 1: float(calls[0][0].reshape(-1)[0]) for k, calls in gates.calls.items()})


class Recorder:
    """Forward hooks on a list of modules: ``calls[k]`` is the list of module k's outputs, in order."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules
        self.calls: dict[int, list[Any]] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> Recorder:
        for k, module in enumerate(self.modules):
            self._handles.append(module.register_forward_hook(self._hook(k)))
        return self

    def _hook(self, k: int) -> Callable:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            value = output if isinstance(output, tuple) else (output,)
            self.calls.setdefault(k, []).append(tuple(v.detach() for v in value))
        return record

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()


def build_official(bert_module: Any, smartbert_module: Any, ours: EarlyExitModel, num_labels: int) -> nn.Module:
    """The official model on a BertModel of the vendored transformers with our backbone's shape
    (``main.py``: ``BertConfig(..., output_attentions=True)``, ``SmartBert(BertModel, config)``)."""
    hf = ours.encoder.config
    config = bert_module.BertConfig(
        vocab_size_or_config_json_file=hf.vocab_size, hidden_size=hf.hidden_size, num_hidden_layers=hf.num_hidden_layers,
        num_attention_heads=hf.num_attention_heads, intermediate_size=hf.intermediate_size, hidden_act=hf.hidden_act,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=hf.max_position_embeddings,
        type_vocab_size=hf.type_vocab_size, layer_norm_eps=hf.layer_norm_eps, num_labels=num_labels,
        output_attentions=True)
    return zero_dropout(smartbert_module.SmartBert(bert_module.BertModel(config), config))


def official_mapping(ours: EarlyExitModel) -> Mapping:
    """Links from our parameter names to the official ``SmartBert``'s (module docstring of :mod:`mapping`)."""
    layers = ours.num_layers
    links = [_official_link(name, layers) for name, _ in ours.named_parameters()]
    unused = {}
    if "stage2_projections" in ours.extras:
        for k in (layers - 2, layers - 1):
            for name, _ in ours.named_parameters():
                if name.startswith("extras.stage2_projections.0."):
                    rest = name.removeprefix("extras.stage2_projections.0.")
                    unused[f"classifier.{k}.main.{rest}"] = (f"Classifier.main of classifier {k + 1}: never in a stage-2 "
                                                            "contrastive pair of the official code (pairs of classifiers 1..L-2)")
    return Mapping(links, unused)


_RULES: list[tuple[str, Callable[[re.Match, int], tuple[tuple[str, ...], str]]]] = [
    (r"encoder\.embeddings\.(.+)", lambda m, L: ((f"embedding.{m[1]}",), "copy")),
    (r"encoder\.layers\.(\d+)\.(.+)", lambda m, L: ((f"encoder.layer.{m[1]}.{m[2]}",), "copy")),
    (r"heads\.(\d+)\.attention\.qkv\.(\w+)",
     lambda m, L: (tuple(f"classifier.{int(m[1]) - 1}.atten.{p}.{m[2]}" for p in ("query", "key", "value")), "qkv")),
    (r"heads\.(\d+)\.(narrow|dense|out)\.(\w+)", lambda m, L: (
        (f"classifier.{int(m[1]) - 1}.{ {'narrow': 'output_layer_0', 'dense': 'output_layer_1', 'out': 'output_layer_2'}[m[2]] }.{m[3]}",),
        "copy")),
    (r"gates\.(\d+)\.attention\.qkv\.(\w+)",
     lambda m, L: (tuple(f"gate.{m[1]}.atten.{p}.{m[2]}" for p in ("query", "key", "value")), "qkv")),
    (r"gates\.(\d+)\.(narrow|out)\.(\w+)",
     lambda m, L: ((f"gate.{m[1]}.{ {'narrow': 'output_layer_0', 'out': 'output_layer_1'}[m[2]] }.{m[3]}",), "copy")),
    (r"extras\.stage1_projection\.(.+)", lambda m, L: (tuple(f"contrast.{j}.{m[1]}" for j in range(L)), "tied")),
    (r"extras\.stage1_projections\.(\d+)\.(.+)", lambda m, L: ((f"contrast.{m[1]}.{m[2]}",), "copy")),
    (r"extras\.stage2_projection\.(.+)", lambda m, L: (tuple(f"classifier.{j}.main.{m[1]}" for j in range(L)), "tied")),
    (r"extras\.stage2_projections\.(\d+)\.(.+)", lambda m, L: ((f"classifier.{m[1]}.main.{m[2]}",), "copy")),
]


def _official_link(name: str, layers: int) -> Link:
    for pattern, target in _RULES:
        match = re.fullmatch(pattern, name)
        if match:
            theirs, kind = target(match, layers)
            return Link(name, theirs, kind)  # type: ignore[arg-type]
    raise KeyError(f"no official counterpart for our parameter {name}")


# ---------------------------------------------------------------- the checks


@dataclass
class Pair:
    """Our side and the other, with the mapping between their parameters."""

    ours: Side
    theirs: Side
    mapping: Mapping
    tolerance: Tolerance


def link_models(pair: Pair) -> dict:
    """Check the mapping (counts and shapes) and give the other side our weights."""
    counts = check_mapping(pair.mapping, pair.ours.model, pair.theirs.model)
    copy_weights(pair.mapping, pair.ours.model, pair.theirs.model)
    return counts


def _gradient_checks(pair: Pair, group: str, ours_loss: Callable[[], torch.Tensor],
                     theirs_loss: Callable[[], torch.Tensor]) -> list[Check]:
    pair.ours.model.zero_grad(set_to_none=True)
    ours_loss().backward()
    mine = our_gradients(pair.ours.model)
    pair.ours.model.zero_grad(set_to_none=True)
    pair.theirs.model.zero_grad(set_to_none=True)
    theirs_loss().backward()
    other = their_gradients(pair.mapping, pair.theirs.model)
    pair.theirs.model.zero_grad(set_to_none=True)
    return compare_gradients(group, mine, other, pair.tolerance.grad)


def stage1_checks(pair: Pair, batch: dict, label: str, modes: tuple[bool, ...] = (False, True)) -> tuple[list[Check], list[Check]]:
    """Loss terms (eq. 3: CE, skip, CCL of eq. 4, total) and gradients in soft and hard gate modes
    (``modes``: hard or not). Returns (table rows, every per-parameter gradient check)."""
    rows, every = [], []
    for hard in modes:
        mode = "hard" if hard else "soft"
        for term in STAGE1_TERMS:
            with torch.no_grad():
                rows.append(compare_scalar(f"{label} stage 1 {mode}", term, pair.ours.stage1(batch, hard, term),
                                           pair.theirs.stage1(batch, hard, term), pair.tolerance.loss))
        for term in GRADIENT_TERMS["stage1"]:
            grads = _gradient_checks(pair, f"{label} stage 1 {mode} grad[{term}]",
                                     partial(pair.ours.stage1, batch, hard, term), partial(pair.theirs.stage1, batch, hard, term))
            every += grads
            rows.append(summarise_gradients(grads))
    return rows, every


def stage2_checks(pair: Pair, batch: dict, label: str) -> tuple[list[Check], list[Check]]:
    """Each intermediate classifier's CE (eq. 7), the contrastive term (eqs. 5-6), the total (eq. 8)
    and the gradients of the total, the CE sum and the contrastive term."""
    rows, every = [], []
    with torch.no_grad():
        for k, (a, b) in enumerate(zip(pair.ours.stage2_ce(batch), pair.theirs.stage2_ce(batch)), start=1):
            rows.append(compare_scalar(f"{label} stage 2", f"ce_{k}", a, b, pair.tolerance.loss))
        for term in STAGE2_TERMS:
            rows.append(compare_scalar(f"{label} stage 2", term, pair.ours.stage2(batch, term), pair.theirs.stage2(batch, term),
                                       pair.tolerance.loss))
    for term in GRADIENT_TERMS["stage2"]:
        grads = _gradient_checks(pair, f"{label} stage 2 grad[{term}]", partial(pair.ours.stage2, batch, term),
                                 partial(pair.theirs.stage2, batch, term))
        every += grads
        rows.append(summarise_gradients(grads))
    return rows, every


def decision_checks(group: str, ours: list[Decision], theirs: list[Decision], tolerance: Tolerance) -> list[Check]:
    """Skip lists, exit layers, predictions (exact), head logits and gate probabilities (rounding)."""
    summary = {"official_exit_layers": _histogram([d.exit_layer for d in theirs]),
               "official_layers_skipped": sum(len(d.skipped) for d in theirs)}
    logit_pairs = [(a.head_logits[k], b.head_logits[k]) for a, b in zip(ours, theirs)
                   for k in b.head_logits if k in a.head_logits]
    missing = sum(set(a.head_logits) != set(b.head_logits) for a, b in zip(ours, theirs))
    gate_pairs = [(torch.tensor(a.gate_probs[k]), torch.tensor(b.gate_probs[k])) for a, b in zip(ours, theirs)
                  for k in b.gate_probs if k in a.gate_probs]
    return [
        compare_decisions(group, "skipped layers", [d.skipped for d in ours], [d.skipped for d in theirs], summary),
        compare_decisions(group, "exit layer", [d.exit_layer for d in ours], [d.exit_layer for d in theirs]),
        compare_decisions(group, "prediction", [d.prediction for d in ours], [d.prediction for d in theirs]),
        compare_decisions(group, "heads evaluated", [sorted(d.head_logits) for d in ours], [sorted(d.head_logits) for d in theirs],
                          {"examples_with_other_heads": missing}),
        compare_max_abs(group, "head logits (max abs)", logit_pairs, tolerance.logits),
        compare_max_abs(group, "gate probabilities (max abs)", gate_pairs, tolerance.gate),
    ]


def _histogram(values: list[int]) -> dict[str, int]:
    return {str(v): values.count(v) for v in sorted(set(values))}


def inference_checks(pair: Pair, examples: list[dict], padded: list[dict], data: EncodedSplit, label: str,
                     thresholds: list[float]) -> list[Check]:
    """For each threshold (gates on) and one with gates off: our batch-1 loop and our replay
    against the other side's loop on the same dev examples."""
    rows = []
    settings = [(s, True) for s in thresholds] + [(thresholds[len(thresholds) // 2], False)]
    for threshold, gates in settings:
        theirs = [pair.theirs.infer(x, threshold, gates) for x in padded]
        batch1 = [pair.ours.infer(x, threshold, gates) for x in examples]
        where = f"{label} inference S={threshold:g}{'' if gates else ' gates off'}"
        rows += decision_checks(f"{where} batch-1", batch1, theirs, pair.tolerance)
        replay_of = getattr(pair.ours, "replay_decisions", None)
        if replay_of is not None:
            rows += decision_checks(f"{where} replay", replay_of(data, threshold, gates), theirs, pair.tolerance)
    return rows


def sharpen(model: EarlyExitModel, heads: float = 30.0, gates: float = 10.0, seed: int = 0) -> None:
    """Spread the untrained heads' and gates' outputs so that decisions vary across examples and
    thresholds (entropies from near 0 to ln C, gate probabilities on both sides of 0.5): the output
    layers' weights scaled, each gate's bias shifted by a seeded offset. Both sides get these weights."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.exit_layers:
            model.head(layer).out.weight.mul_(heads)
        for gate in model.gate_modules() if model.gates is not None else ():  # DeeBERT, PABEE: heads only
            gate.out.weight.mul_(gates)
            gate.out.bias.add_(0.5 * torch.randn(1, generator=generator))


def padded_example(batch: dict, width: int = 128) -> dict:
    """A collated batch padded to ``width`` tokens, as the official features are (pad id 0, mask 0, segment 0)."""
    extra = width - batch["input_ids"].shape[1]
    pad = lambda t: F.pad(t, (0, extra))  # noqa: E731
    return {**batch, "input_ids": pad(batch["input_ids"]), "token_type_ids": pad(batch["token_type_ids"]),
            "attention_mask": pad(batch["attention_mask"])}
