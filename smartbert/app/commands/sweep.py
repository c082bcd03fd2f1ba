"""`smartbert sweep`: replay exit thresholds on a trace."""

from __future__ import annotations

import argparse

from smartbert.app.commands.common import load_trace, parse_tags, reference_layers
from smartbert.core.formats import SWEEP
from smartbert.core.names import DEFAULT_VARIANT
from smartbert.modeling.flops import trace_costs
from smartbert.replay.sweep import parse_thresholds, sweep


def run(args: argparse.Namespace) -> None:
    thresholds = parse_thresholds(args.thresholds) if args.thresholds else None  # bad input named before any work
    tags = {"variant": DEFAULT_VARIANT, **parse_tags(args.tag)}  # the tables read a sweep's variant
    trace = load_trace(args.trace)
    table = sweep(trace, trace_costs(trace.meta, args.seq_len), thresholds, args.policy,
                  reference_layers(args.reference_backbone), args.with_grid)
    for key, value in tags.items():
        table.insert(0, key, value)
    SWEEP.write_csv(table, args.out)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
