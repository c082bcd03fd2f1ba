"""Threshold sweeps by replay: per threshold, the task metric and the cost, both conventions."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.data.metrics import compute_metrics
from smartbert.data.tasks import get_task
from smartbert.replay.cost import CONVENTIONS, ComponentCosts
from smartbert.replay.policies import ExitPolicy, check_table_thresholds, make_policy, policy_class
from smartbert.replay.trace import Replay, Trace, replay


def example_costs(result: Replay, costs: ComponentCosts, head_kind: str, convention: str) -> np.ndarray:
    """FLOPs per example: embeddings + evaluated layers, heads and gates."""
    return costs.model_cost(convention, result.layers_run, result.heads, result.gates, head_kind)


def summarise(trace: Trace, result: Replay, costs: ComponentCosts, reference_layers: int | None = None) -> dict[str, float]:
    """Metric and cost of one replay, as one sweep row. Cost % is relative to the full-depth model
    of ``reference_layers`` layers (default: the trace's backbone depth)."""
    spec = get_task(trace.meta.task)
    row: dict[str, float] = dict(compute_metrics(spec, result.prediction, trace.labels))
    reference_layers = int(reference_layers or trace.meta.reference_layers or trace.num_layers)
    for convention in CONVENTIONS:
        flops = example_costs(result, costs, trace.meta.head_kind, convention)
        unit = "flops" if convention == "paper" else "macs"
        row[f"avg_{unit}_{convention}_M"] = float(flops.mean()) / 1e6
        row[f"cost_pct_{convention}"] = 100.0 * float(flops.mean()) / costs.reference_cost(convention, reference_layers)
    row["avg_layers_run"] = float(result.layers_run.mean())
    row["avg_layers_skipped"] = float(result.layers_skipped.mean())
    row["avg_exit_layer"] = float(result.exit_layer.mean())
    row["n"] = trace.num_examples
    return row


def provenance_columns(trace: Trace) -> dict[str, str | int | None]:
    """Where a sweep row came from: the model's seed, config hash (with seed), experiment hash
    (without seed: rows that may be averaged over seeds share it), commit, and the devices the
    model was trained and traced on."""
    model = trace.meta.model_provenance
    return {"seed": model.get("seed"), "config_hash": model.get("config_hash"),
            "experiment_hash": model.get("experiment_hash"), "commit": model.get("commit"),
            "train_device": model.get("device"), "trace_device": trace.meta.provenance.get("device")}


def sweep(trace: Trace, costs: ComponentCosts, thresholds: Iterable[float] | None = None, policy: str | None = None,
          reference_layers: int | None = None, with_grid: bool = False) -> pd.DataFrame:
    """One row per threshold: ``policy`` (default: the method's own) replayed on ``trace``, costed
    with ``costs`` (:func:`smartbert.modeling.flops.trace_costs`).
    ``thresholds`` default to the policy's dense grid (from never exiting early to most eager);
    ``with_grid`` adds that grid to the given thresholds."""
    policy = policy or trace.meta.default_policy
    kind = policy_class(policy)
    values = list(kind.grid) if thresholds is None else list(thresholds) + (list(kind.grid) if with_grid else [])
    if kind.is_static():  # its one setting
        values = [0.0]
    values = sorted({float(v) for v in values})
    origin, label = provenance_columns(trace), trace.meta.label
    rows = []
    for threshold in values:
        rule: ExitPolicy = make_policy(policy, threshold)
        rows.append({"method": trace.meta.method, "label": label, "task": trace.meta.task, "policy": policy,
                     "threshold": threshold, **summarise(trace, replay(trace, rule), costs, reference_layers), **origin})
    return pd.DataFrame(rows)


def parse_policy_thresholds(items: Iterable[str]) -> dict[str, list[float]]:
    """['entropy=0.1,0.3', 'patience=3,4'] -> {'entropy': [0.1, 0.3], 'patience': [3.0, 4.0]}, each
    value checked against its policy's domain."""
    out = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep:
            raise SmartBertError(f"--thresholds takes POLICY=V1,V2 (e.g. entropy=0.1,0.3,0.5), got {item!r}")
        out[name] = parse_thresholds(values)
    check_table_thresholds(out)
    return out


def parse_thresholds(text: str) -> list[float]:
    """'0.1,0.3,0.5' -> [0.1, 0.3, 0.5], with a clear error on anything else (NaN and infinity included)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise SmartBertError(f"thresholds must be comma-separated numbers like 0.1,0.3,0.5; got {text!r}") from error
    if not all(math.isfinite(value) for value in values):
        raise SmartBertError(f"thresholds must be finite numbers like 0.1,0.3,0.5; got {text!r}")
    if not values:
        raise SmartBertError("no thresholds given; pass e.g. --thresholds 0.1,0.3,0.5")
    return values
