"""Oracle analysis of a trace (issue 14, item 4): the best any exit rule could do with these heads,
how far the method's own policy sits from it, and what every head knows.

*Oracle exit*: per example, the earliest evaluated head whose prediction is correct and stays
correct at every later evaluated head up to the last layer; an example no head gets right (or whose
last head is wrong) exits at the last layer. So the oracle keeps the full-depth predictions exactly
(its metric is the last head's) at the least cost these heads allow; its cost is counted with the
same components as any replay (layers that ran, heads and gates up to the exit).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from smartbert.data.metrics import compute_metrics
from smartbert.data.tasks import get_task
from smartbert.replay.cost import ComponentCosts
from smartbert.replay.curves import attainable
from smartbert.replay.gates import gate_statistics
from smartbert.replay.policies import POLICIES, make_policy, policy_class
from smartbert.replay.sweep import summarise, sweep
from smartbert.replay.trace import Trace, replay, resolve_exits

FLAT_METRIC = 0.05   # metric points: a sweep whose metric moves less than this is flat ...
MOVING_EXIT = 0.5    # ... while its mean exit layer moves at least this many layers


def head_predictions(trace: Trace) -> np.ndarray:
    """[N, L] argmax of each evaluated head (-1 where not evaluated)."""
    return np.where(trace.evaluated, np.nan_to_num(trace.logits, nan=-np.inf).argmax(-1), -1)


def oracle_exit_mask(trace: Trace) -> np.ndarray:
    """[N, L] bool: head i is correct and every later evaluated head is correct too."""
    correct = trace.evaluated & (head_predictions(trace) == trace.labels[:, None])
    fine = correct | ~trace.evaluated  # a head that was not evaluated cannot break the streak
    stays = np.flip(np.logical_and.accumulate(np.flip(fine, axis=1), axis=1), axis=1)
    return correct & stays


def oracle(trace: Trace, costs: ComponentCosts, reference_layers: int | None = None) -> dict[str, float]:
    """The oracle's sweep row (metric, FLOPs, cost %, layers), as :func:`smartbert.replay.sweep.summarise`."""
    result = resolve_exits(oracle_exit_mask(trace), trace.ran, trace.evaluated, trace.logits, trace.has_gates)
    return summarise(trace, result, costs, reference_layers)


def head_table(trace: Trace, threshold: float | None = None) -> list[dict[str, Any]]:
    """Per exit head: where it was evaluated, its main metric and accuracy there, its agreement with
    the last head, its majority-prediction share, and (at ``threshold`` of the method's policy) how
    many examples exit at it and how often those agree with the last head."""
    spec = get_task(trace.meta.task)
    predictions = head_predictions(trace)
    final = predictions[:, -1]
    exits = None
    if threshold is not None:
        policy = trace.meta.default_policy
        exits = replay(trace, make_policy(policy, threshold)).exit_layer
    rows = []
    for layer in trace.meta.exit_layers:
        where = trace.evaluated[:, layer - 1]
        if not where.any():
            continue
        mine = predictions[where, layer - 1]
        row = {"layer": int(layer), "evaluated_share": float(where.mean()),
               "metric": compute_metrics(spec, mine, trace.labels[where])["metric"],
               "accuracy": 100.0 * float((mine == trace.labels[where]).mean()),
               "agreement_with_last": 100.0 * float((mine == final[where]).mean()),
               "top_class_share": 100.0 * float(np.bincount(mine).max() / len(mine))}
        if exits is not None and threshold is not None:
            leaving = exits == layer
            row.update(threshold=threshold, exits_here=int(leaving.sum()),
                       exit_agreement_with_last=100.0 * float((predictions[leaving, layer - 1] == final[leaving]).mean())
                       if leaving.any() else math.nan)
        rows.append(row)
    return rows


def analyse(trace: Trace, costs: ComponentCosts, threshold: float | None = None,
            reference_layers: int | None = None) -> dict[str, Any]:
    """Oracle row, the method's own policy over its dense grid against it, the per-head table (exits
    counted at ``threshold``; default the middle of the policy's Table 1 points) and, when the metric stays flat over the grid
    while the exit layer moves, why."""
    best = oracle(trace, costs, reference_layers)
    policy = trace.meta.default_policy
    rule = policy_class(policy)
    threshold = rule.table_middle() if threshold is None else threshold
    curve = sweep(trace, costs, policy=policy, reference_layers=reference_layers)
    matching = curve[curve["metric"] >= best["metric"] - 1e-9]
    cost_to_match = float(matching["cost_pct_paper"].min()) if len(matching) else math.nan
    metric_at_oracle_cost = float(attainable(curve, best["cost_pct_paper"])[0])
    heads = head_table(trace, None if rule.is_static() else threshold)
    summary = {"task": trace.meta.task, "method": trace.meta.method, "policy": policy,
               "oracle_metric": best["metric"], "oracle_cost_pct": best["cost_pct_paper"],
               "oracle_avg_exit_layer": best["avg_exit_layer"], "oracle_avg_layers_run": best["avg_layers_run"],
               "policy_cost_pct_at_oracle_metric": cost_to_match, "policy_metric_at_oracle_cost": metric_at_oracle_cost,
               "flat_curve_reason": flat_reason(curve, heads, trace, policy)}
    result = {"summary": summary, "heads": heads}
    if trace.has_gates:
        result["gates"] = gate_statistics(trace)
    return result


def flat_reason(curve, heads: list[dict[str, Any]], trace: Trace | None = None, policy: str | None = None) -> str | None:
    """Why a sweep's metric stays constant over the grid while its exit layer moves, or None."""
    if len(curve) < 2 or curve["metric"].max() - curve["metric"].min() >= FLAT_METRIC:
        return None
    if curve["avg_exit_layer"].max() - curve["avg_exit_layer"].min() < MOVING_EXIT:
        return None
    if all(h["top_class_share"] >= 99.5 for h in heads):
        return "every head predicts one class for (nearly) every example: where an example exits changes no prediction"
    if trace is None or policy is None:
        return "the metric stays flat while the exits move"
    eager = replay(trace, make_policy(policy, POLICIES[policy].grid[-1]))  # exits as early as the rule can
    changed = 100.0 * float((eager.prediction != head_predictions(trace)[:, -1]).mean())
    if changed < 0.5:
        return "every head an example exits at predicts what the last head predicts: exiting earlier changes no prediction"
    return (f"at the most eager threshold {changed:.1f}% of the predictions differ from the last head's, and as many "
            "of those become right as wrong")
