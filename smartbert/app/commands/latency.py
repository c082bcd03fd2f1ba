"""`smartbert latency`: batch-1 latency of several models at Table 1's thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import LATENCY
from smartbert.inference.latency import latency_table
from smartbert.replay.sweep import parse_policy_thresholds


def run(args: argparse.Namespace) -> None:
    for directory in args.models:
        if not Path(directory).is_dir():
            raise SmartBertError(f"model directory {directory} not found; train it with `smartbert train ... --out {directory}`")
    rows = latency_table(args.models, args.task, parse_policy_thresholds(args.thresholds), args.examples, args.repeats,
                         args.torch_device)
    table = pd.DataFrame(rows)
    LATENCY.write_csv(table, args.out)
    print(table[["method", "threshold", "ms_per_example", "cost_pct", "measured_speedup", "flops_speedup"]]
          .to_string(index=False, float_format=lambda v: f"{v:.2f}"))
