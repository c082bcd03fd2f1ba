"""`smartbert latency`: batch-1 latency of several models at Table 1's thresholds (or at calibrated ones)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import CALIBRATION, LATENCY
from smartbert.inference.latency import latency_table
from smartbert.replay.calibrate import at_epsilons
from smartbert.replay.sweep import parse_policy_thresholds, parse_thresholds


def shipped_thresholds(paths: list[str], epsilons: list[float]) -> dict[str, list[float]]:
    """Per method, the thresholds `smartbert calibrate` shipped at ``epsilons`` (every procedure) in ``paths``."""
    found: dict[str, set[float]] = {}
    for path in paths:
        table = CALIBRATION.read_csv(path)
        chosen = at_epsilons(table, epsilons)
        if chosen.empty:
            raise SmartBertError(f"{path} has no row at eps {epsilons}; rerun `smartbert calibrate --epsilons` with them")
        for method, threshold in zip(chosen["method"], chosen["threshold"]):
            found.setdefault(str(method), set()).add(float(threshold))
    return {method: sorted(values) for method, values in found.items()}


def run(args: argparse.Namespace) -> None:
    for directory in args.models:
        if not Path(directory).is_dir():
            raise SmartBertError(f"model directory {directory} not found; train it with `smartbert train ... --out {directory}`")
    at = shipped_thresholds(args.calibrated, parse_thresholds(args.epsilons)) if args.calibrated else None
    rows = latency_table(args.models, args.task, parse_policy_thresholds(args.thresholds), args.examples, args.repeats,
                         args.torch_device, at)
    table = pd.DataFrame(rows)
    LATENCY.write_csv(table, args.out)
    print(table[["method", "threshold", "ms_per_example", "cost_pct", "measured_speedup", "flops_speedup"]]
          .to_string(index=False, float_format=lambda v: f"{v:.2f}"))
