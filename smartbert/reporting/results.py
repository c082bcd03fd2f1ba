"""Sweep results across tasks, methods, variants and seeds: load, check, average.

Every sweep row carries the model's ``experiment_hash`` (its whole configuration except the
seed). Rows of one (task, method, variant) may be averaged over seeds only when they share it;
anything else means results of different configurations were mixed, and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import DATA_SUMMARY, LATENCY, SWEEP

KEYS = ["task", "method", "variant", "policy", "threshold"]
AVERAGED = ["metric", "cost_pct_paper", "cost_pct_fvcore", "avg_flops_paper_M", "avg_macs_fvcore_M",
            "avg_layers_run", "avg_layers_skipped", "avg_exit_layer"]


def load_sweeps(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All rows of the sweep CSVs, each tagged with its file; format, columns and mixing checked."""
    frames = [SWEEP.read_csv(path, dtype={"config_hash": str, "experiment_hash": str, "commit": str}).assign(file=str(path))
              for path in paths]
    if not frames:
        raise SmartBertError("no sweep files given")
    return check_integrity(pd.concat(frames, ignore_index=True))


def check_integrity(frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse mixed configurations: one experiment hash per (task, method, variant), one file per seed."""
    for (task, method, variant), group in frame.groupby(["task", "method", "variant"]):
        hashes = group["experiment_hash"].astype(str).unique()
        if len(hashes) > 1:
            files = sorted(group.drop_duplicates("experiment_hash")["file"])
            raise SmartBertError(f"{task}/{method}/{variant} mixes results of {len(hashes)} different configurations "
                                 f"({', '.join(hashes)}): {files}. Rerun the stale ones (delete them and rerun the workflow)")
        per_seed = group.groupby("seed")["file"].nunique()
        if (per_seed > 1).any():
            seed = per_seed[per_seed > 1].index[0]
            raise SmartBertError(f"{task}/{method}/{variant} has seed {seed} in more than one file: "
                                 f"{sorted(group[group.seed == seed]['file'].unique())}")
    return frame


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (task, method, variant, policy, threshold); ``n_seeds``."""
    columns = [c for c in AVERAGED if c in frame.columns]
    grouped = frame.groupby(KEYS, sort=False)
    means = grouped[columns].mean()
    stds = grouped[columns].std(ddof=1).fillna(0.0).add_suffix("_std")
    extra = grouped.agg(n_seeds=("seed", "nunique"), seeds=("seed", lambda s: ",".join(str(v) for v in sorted(set(s)))),
                        experiment_hash=("experiment_hash", "first"))
    extra["n"] = grouped["n"].first() if "n" in frame.columns else math.nan  # an external sweep may not know it
    for column in ("label", "commit"):
        if column in frame.columns:
            extra[column] = grouped[column].first()
    return pd.concat([means, stds, extra], axis=1).reset_index()


def majority_floor(majority: dict[str, dict], task: str) -> float:
    """The majority-class metric of ``task`` from the data summaries (-inf when unknown): a result at
    or below it learned nothing."""
    return majority.get(task, {}).get("majority_class", {}).get("metric", -math.inf)


def at_or_below(metric, floor: float):
    """Whether ``metric`` (a number or a Series) is at or below ``floor`` (the majority class): a
    result there learned nothing usable and is evidence for no one."""
    return metric <= floor + 1e-9


def load_latency(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The workflow's ``results/latency/{task}.csv`` files as one frame (empty when none were timed)."""
    frames = [LATENCY.read_csv(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "method", "threshold", "ms_per_example", "measured_speedup"])


def load_data_summaries(paths: Iterable[str | Path]) -> dict[str, dict]:
    """``smartbert data`` summaries by task (majority class, sizes, source)."""
    found = {}
    for path in paths:
        summary = DATA_SUMMARY.read_json(path)
        metric = summary["majority_class"].get("metric")
        if isinstance(metric, bool) or not isinstance(metric, (int, float)) or not math.isfinite(metric):
            raise DATA_SUMMARY.error(path, f"has majority_class.metric {metric!r}, not a finite number")
        found[summary["task"]] = summary
    return found


def recorded_values(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct values a column recorded (e.g. the devices of ``train_device``), sorted; [] when
    the column is absent (files written before the suite recorded it) or empty."""
    return sorted({str(v) for v in frame[column].dropna()}) if column in frame else []
