"""`smartbert oracle`: oracle exits of a trace and every head's metrics."""

from __future__ import annotations

import argparse
import json

from smartbert.app.commands.common import load_trace, parse_tags, reference_layers
from smartbert.core.formats import ORACLE
from smartbert.modeling.flops import trace_costs
from smartbert.replay.oracle import analyse


def run(args: argparse.Namespace) -> None:
    trace = load_trace(args.trace)
    found = analyse(trace, trace_costs(trace.meta), args.threshold, reference_layers(args.reference_backbone))
    found["summary"].setdefault("seed", trace.meta.model_provenance.get("seed"))
    found["summary"].update(parse_tags(args.tag))
    ORACLE.write_json(found, args.out)
    print(json.dumps(found["summary"], indent=2))
