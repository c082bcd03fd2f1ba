"""Trace, replay and cost: the suite's core idea (docs/design.md).

Exit decisions never change what a layer computes, only where the walk stops. So a model is run
once over the eval set through every layer it would execute, recording per example and layer:
whether the layer ran (a gate may skip it), the gate's probability, and the exit head's logits.
Any exit policy at any threshold is then *replayed* from the trace, with the exit layer, the
prediction and how many layers, heads and gates were evaluated, hence its FLOPs.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import TRACE, VERSION_FIELD
from smartbert.core.io import atomic_path
from smartbert.replay.policies import ExitPolicy

TRACE_ARRAYS = ("labels", "ran", "evaluated", "logits", "gate_prob", "lengths")


@dataclass
class TraceMeta:
    """What a trace records beside its arrays: the model (method, its exit rule and name in tables,
    backbone shape, heads), the data (task, split, sequence length) and where both came from. Saved
    as JSON in the trace with a ``format_version`` (:data:`smartbert.core.formats.TRACE`)."""

    num_layers: int
    num_labels: int
    head_kind: str                      # the exit heads' kind, for their FLOPs (smartbert.replay.cost)
    exit_layers: list[int]              # layers with an exit head (1-based)
    has_gates: bool = False             # the trace followed skipping gates
    gates_used: bool = True             # gates were asked for (`smartbert trace --no-gates`: the exit-only path)
    method: str = ""                    # registry name
    default_policy: str = "none"        # the method's own exit rule
    label: str = ""                     # the model's name in tables
    task: str = ""                      # the data traced
    trained_on: str = ""                # the task the model was trained on (MNLI-mm: MNLI)
    split: str = "dev"
    backbone: str = ""
    shape: dict[str, int] = field(default_factory=dict)   # smartbert.modeling.backbones.BackboneShape, as run
    reference_layers: int | None = None  # the backbone's full depth (cost % is relative to it)
    max_seq_len: int = 128
    model_dir: str = ""
    method_config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)        # of the trace (device...)
    model_provenance: dict[str, Any] = field(default_factory=dict)  # of the model (seed, hashes, commit)

    def to_document(self) -> dict[str, Any]:
        return TRACE.stamp_document(dataclasses.asdict(self))

    @classmethod
    def from_document(cls, document: Any, path: str | Path) -> TraceMeta:
        """The meta of the trace at ``path``: its version checked, unknown or missing fields named."""
        if not isinstance(document, dict):
            raise SmartBertError(f"{path} is not a readable trace (its meta is not a JSON object); give a file written by "
                                 f"`smartbert trace`, or rerun it")
        document = dict(document)
        TRACE.check_version(document.pop(VERSION_FIELD, None), path)
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        unknown, missing = sorted(set(document) - names), sorted(required - set(document))
        if unknown or missing:
            raise TRACE.error(path, f"has meta fields {unknown} this suite does not know and lacks {missing}" if unknown and missing
                              else f"has meta fields {unknown} this suite does not know" if unknown else f"lacks meta fields {missing}")
        return cls(**document)


@dataclass
class Trace:
    """Per-example, per-layer records of one model on one split ([N, L] and [N, L, C] arrays)."""

    labels: np.ndarray          # [N] int
    ran: np.ndarray             # [N, L] bool: layer i was computed
    evaluated: np.ndarray       # [N, L] bool: exit head i produced logits
    logits: np.ndarray          # [N, L, C] float32, NaN where not evaluated
    gate_prob: np.ndarray       # [N, L] float32, NaN for models without gates
    lengths: np.ndarray         # [N] int: tokens per example
    meta: TraceMeta

    @property
    def num_examples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_layers(self) -> int:
        return int(self.ran.shape[1])

    @property
    def has_gates(self) -> bool:
        return self.meta.has_gates

    def save(self, path: str | Path) -> None:
        """One ``.npz`` (no pickle), written atomically."""
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, labels=self.labels, ran=self.ran, evaluated=self.evaluated,
                                    logits=self.logits, gate_prob=self.gate_prob, lengths=self.lengths,
                                    meta=np.array(json.dumps(self.meta.to_document())))

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """A trace written by :meth:`save`; anything else (another file, a damaged or truncated one)
        is a one-line :class:`smartbert.core.errors.SmartBertError` naming the file."""
        fix = "give a file written by `smartbert trace`, or rerun it"
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not a trace archive")
            with data:
                missing = [k for k in (*TRACE_ARRAYS, "meta") if k not in data.files]
                if missing:
                    raise ValueError(f"it lacks {missing}")
                arrays = {k: data[k] for k in TRACE_ARRAYS}
                meta = json.loads(str(data["meta"]))
        except FileNotFoundError:
            raise SmartBertError(f"trace {path} not found; {fix}") from None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise SmartBertError(f"{path} is not a readable trace ({error}); {fix}") from None
        return cls(**arrays, meta=TraceMeta.from_document(meta, path))


@dataclass
class Replay:
    """Outcome of one policy on a trace, per example."""

    exit_layer: np.ndarray   # [N] 1-based layer whose head gave the prediction
    prediction: np.ndarray   # [N]
    layers_run: np.ndarray   # [N] layers computed up to the exit
    heads: np.ndarray        # [N] exit heads evaluated up to the exit
    gates: np.ndarray        # [N] gates evaluated up to the exit

    @property
    def layers_skipped(self) -> np.ndarray:
        return self.exit_layer - self.layers_run


def resolve_exits(exit_mask: np.ndarray, ran: np.ndarray, evaluated: np.ndarray, logits: np.ndarray,
                  has_gates: bool) -> Replay:
    """Turn a policy's [N, L] exit mask into exit layers, predictions and component counts.
    The first layer where the policy fires is the exit; otherwise the last layer."""
    n, num_layers = ran.shape
    fires = exit_mask & evaluated
    fires[:, -1] = True  # the last head always answers
    exit_index = fires.argmax(axis=1)
    rows = np.arange(n)
    prediction = np.nan_to_num(logits[rows, exit_index], nan=-np.inf).argmax(-1)
    layers_run = np.cumsum(ran, axis=1)[rows, exit_index]
    heads = np.cumsum(evaluated, axis=1)[rows, exit_index]
    gates = (exit_index + 1) if has_gates else np.zeros(n, dtype=int)
    return Replay(exit_index + 1, prediction, layers_run, heads, gates)


def replay(trace: Trace, policy: ExitPolicy) -> Replay:
    """Replay ``policy`` on ``trace`` (equal to dynamic inference: tests prove it per method and
    policy); only the heads the policy reads are counted (skip-only: the last one)."""
    evaluated = policy.heads_read(trace.evaluated)
    return resolve_exits(policy.exit_mask(trace.logits, evaluated), trace.ran, evaluated, trace.logits, trace.has_gates)


def skip_statistics(trace: Trace, always: float = 0.99) -> dict:
    """How the gates behave on a traced split: per-layer skip rate, a histogram of layers run per
    example, and flags. ``collapsed``: half the layers or more are skipped for >= 99% of the
    examples (or under one layer runs on average), the failure the official code shows on RTE;
    ``inactive``: no gate ever skips."""
    skip_rate = 1.0 - trace.ran.mean(axis=0)
    layers_run = trace.ran.sum(axis=1)
    always_skipped = [i + 1 for i, rate in enumerate(skip_rate) if rate >= always]
    return {
        "skip_rate_per_layer": [round(float(r), 4) for r in skip_rate],
        "layers_run_histogram": np.bincount(layers_run, minlength=trace.num_layers + 1).tolist(),
        "mean_layers_run": float(layers_run.mean()),
        "always_skipped_layers": always_skipped,
        "collapsed": bool(len(always_skipped) >= trace.num_layers / 2 or layers_run.mean() < 1.0),
        "inactive": bool(trace.ran.all()),
    }
