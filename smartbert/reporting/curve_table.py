"""Curve-level comparison tables (issue 14, item 3): per task and early-exit method, the normalised
area under its attainable metric-vs-cost curve over a range common to every method of the task, its
Pareto front, and the signed area between SmartBERT's curve and each baseline's (over the range
those two share); on the FLOPs axis
(cost %, mean +- std over seeds) and on measured batch-1 latency (% of BERT's ms per example).

Static methods (one point: BERT, DistilBERT) have no curve and are left out; a task whose curves
share no cost range gets NaN and says so (``lo >= hi``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from smartbert.core.names import DEFAULT_VARIANT, SMARTBERT
from smartbert.replay.curves import area_between, common_range, normalised_area, pareto_front
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.table_files import format_mean_std, write_table

REFERENCE = SMARTBERT  # the method every other is compared with
AXES = {"flops": "cost_pct_paper", "latency": "latency_pct"}


def _curves(frame: pd.DataFrame, cost: str) -> dict[tuple[str, str, int], pd.DataFrame]:
    """(method, variant, seed) -> its points, for every model with more than one distinct cost."""
    found = {}
    for (method, variant, seed), rows in frame.groupby(["method", "variant", "seed"]):
        if rows[cost].nunique() > 1:
            found[(method, variant, int(seed))] = rows
    return found


def latency_points(latency: pd.DataFrame, sweeps: pd.DataFrame) -> pd.DataFrame:
    """The latency CSVs' rows as curve points: ``latency_pct`` = ms per example / BERT's on the same
    examples x 100 (one timing per task: the first seed's models, variant default), with the metric
    of the full dev set from the sweeps at the same threshold (the timed sample is small), where found."""
    if latency.empty or "measured_speedup" not in latency:
        return pd.DataFrame(columns=["task", "method", "variant", "seed", "metric", "latency_pct"])
    points = latency[latency["measured_speedup"].notna()].copy()
    seed = int(sweeps["seed"].min()) if len(sweeps) else 1
    dev = sweeps[(sweeps["variant"] == DEFAULT_VARIANT) & (sweeps["seed"] == seed)]
    lookup = {(t, m, round(float(s), 6)): v for t, m, s, v in zip(dev["task"], dev["method"], dev["threshold"], dev["metric"])}
    points["metric"] = [lookup.get((t, m, round(float(s), 6)), v)
                        for t, m, s, v in zip(points["task"], points["method"], points["threshold"], points["metric"])]
    return points.assign(variant=DEFAULT_VARIANT, seed=seed, latency_pct=100.0 / points["measured_speedup"])


def task_curves(frame: pd.DataFrame, task: str, axis: str) -> tuple[list[dict], list[dict]]:
    """AUC rows and area-between rows of one task on one axis."""
    cost = AXES[axis]
    curves = _curves(frame[frame["task"] == task], cost)
    defaults = [points for (method, variant, _), points in curves.items() if variant == DEFAULT_VARIANT]
    if not defaults:
        return [], []
    lo, hi = common_range(defaults, cost)
    auc, between = [], []
    reference = [points for (m, v, _), points in curves.items() if (m, v) == (REFERENCE, DEFAULT_VARIANT)]
    for (method, variant) in dict.fromkeys((m, v) for m, v, _ in curves):
        seeds = sorted(s for m, v, s in curves if (m, v) == (method, variant))
        mine = [curves[(method, variant, s)] for s in seeds]
        # an ablation is set against SmartBERT's default curve over the range the two share
        low, high = (lo, hi) if variant == DEFAULT_VARIANT or not reference else common_range(mine + reference, cost)
        areas = [normalised_area(points, low, high, cost) for points in mine]
        front = pareto_front(mine[0], cost)
        auc.append({"task": task, "axis": axis, "method": method, "variant": variant, "lo": low, "hi": high,
                    "auc": _mean(areas), "auc_std": _std(areas), "n_seeds": len(seeds), "front_points": len(front),
                    "front": " ".join(f"{c:.0f}:{m:.1f}" for c, m in zip(front[cost], front["metric"]))})
        if method == REFERENCE or variant != DEFAULT_VARIANT:
            continue
        shared = [s for s in seeds if (REFERENCE, DEFAULT_VARIANT, s) in curves]  # seed s against seed s
        if not shared:
            continue
        pair = [curves[(m, DEFAULT_VARIANT, s)] for m in (REFERENCE, method) for s in shared]
        pair_lo, pair_hi = common_range(pair, cost)  # the two curves' shared range, wider than the task's
        found = [area_between(curves[(REFERENCE, DEFAULT_VARIANT, s)], curves[(method, variant, s)], pair_lo, pair_hi, cost)
                 for s in shared]
        between.append({"task": task, "axis": axis, "baseline": method, "lo": pair_lo, "hi": pair_hi,
                        "mean_gap": _mean([f["mean_gap"] for f in found]), "mean_gap_std": _std([f["mean_gap"] for f in found]),
                        "share_above": _mean([f["share_above"] for f in found]),
                        "share_below": _mean([f["share_below"] for f in found]), "n_seeds": len(shared)})
    return auc, between


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _std(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0 if values else math.nan


def curve_tables(sweeps: pd.DataFrame, latency: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(AUC per task, axis, method and variant; area between SmartBERT and each baseline)."""
    auc, between = [], []
    for axis, frame in (("flops", sweeps), ("latency", latency_points(latency, sweeps))):
        for task in dict.fromkeys(frame["task"]):
            found_auc, found_between = task_curves(frame, task, axis)
            auc += found_auc
            between += found_between
    return (pd.DataFrame(auc, columns=["task", "axis", "method", "variant", "lo", "hi", "auc", "auc_std", "n_seeds",
                                       "front_points", "front"]),
            pd.DataFrame(between, columns=["task", "axis", "baseline", "lo", "hi", "mean_gap", "mean_gap_std",
                                           "share_above", "share_below", "n_seeds"]))


CAPTIONS = {
    "curves_auc": "Normalised area under each early-exit method's attainable metric-vs-cost curve (best metric at "
                  "equal or lower cost) over the cost range [lo, hi] every default method of the task covers (an ablation: "
                  "the range it shares with SmartBERT's default): the mean metric a budget drawn uniformly from that range "
                  "attains; flops: cost % of the backbone, latency: % of BERT's batch-1 ms per example at Table 1's "
                  "thresholds, with the dev metric. front: the first seed's Pareto points (cost:metric).",
    "curves_between": "Area between SmartBERT's attainable curve and each baseline's over the cost range both cover: "
                      "mean gap (metric points, + = SmartBERT above), and the shares of the range where it is above and below "
                      "(crossing curves have both).",
}


def write_curve_tables(sweeps: pd.DataFrame, latency: pd.DataFrame, out_dir: str | Path, *,
                       methods: MethodCatalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    auc, between = curve_tables(sweeps, latency)
    rng = lambda f: [f"{lo:.0f}-{hi:.0f}%" if hi > lo else "none" for lo, hi in zip(f["lo"], f["hi"])]  # noqa: E731
    auc_display = pd.DataFrame({"task": auc["task"], "axis": auc["axis"],
                                "model": [methods.model_label(m, v) for m, v in zip(auc["method"], auc["variant"])],
                                "range": rng(auc), "AUC": [format_mean_std(m, s, n) or "n/a" for m, s, n in zip(auc["auc"], auc["auc_std"], auc["n_seeds"])],
                                "front": auc["front"]})
    between_display = pd.DataFrame({"task": between["task"], "axis": between["axis"],
                                    "baseline": [methods.display_name(m) for m in between["baseline"]], "range": rng(between),
                                    "mean gap": ["n/a" if math.isnan(m) else f"{m:+.2f}" + (f" ± {s:.2f}" if n > 1 else "")
                                                 for m, s, n in zip(between["mean_gap"], between["mean_gap_std"], between["n_seeds"])],
                                    "above": [f"{v:.0%}" if not math.isnan(v) else "" for v in between["share_above"]],
                                    "below": [f"{v:.0%}" if not math.isnan(v) else "" for v in between["share_below"]]})
    write_table(auc, auc_display, Path(out_dir) / "curves_auc", CAPTIONS["curves_auc"])
    write_table(between, between_display, Path(out_dir) / "curves_between", CAPTIONS["curves_between"])
    return auc, between
