"""`smartbert calibrate`: exit thresholds with a guaranteed risk, from a trace (no torch)."""

from __future__ import annotations

import argparse

from smartbert.app.commands.common import load_trace, parse_tags, reference_layers
from smartbert.core.formats import CALIBRATION
from smartbert.modeling.flops import trace_costs
from smartbert.replay.calibrate import calibration_rows, check_levels, check_loss, procedure
from smartbert.replay.sweep import parse_thresholds


def run(args: argparse.Namespace) -> None:
    epsilons = parse_thresholds(args.epsilons)  # bad input named before any work
    check_levels(epsilons, args.delta)
    names = [name.strip() for name in args.procedures.split(",") if name.strip()]
    for name in names:
        procedure(name)
    check_loss(args.loss)
    tags = parse_tags(args.tag)
    trace = load_trace(args.trace)
    table = calibration_rows(trace, trace_costs(trace.meta), epsilons, args.delta, names, args.loss, args.trials,
                             args.seed, reference_layers(args.reference_backbone))
    for key, value in reversed(tags.items()):
        table.insert(0, key, value)
    CALIBRATION.write_csv(table, args.out)
    print(table[["procedure", "epsilon", "threshold", "certified", "cost_pct", "trial_cost_pct_mean", "trial_risk_mean",
                 "trial_violation_rate", "trial_test_violation_rate"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
