"""`smartbert predict`: per-example predictions, exit layers and FLOPs."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from smartbert.app.commands.common import write_csv
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.inference.dynamic import predict_dynamic
from smartbert.inference.record import record_trace
from smartbert.inference.tracing import check_task_fits, trace_meta
from smartbert.methods.checkpoint import load_model
from smartbert.modeling.flops import trace_costs
from smartbert.replay.policies import make_policy
from smartbert.replay.sweep import example_costs, summarise
from smartbert.replay.trace import replay


def run(args: argparse.Namespace) -> None:
    loaded = load_model(args.model, device=args.torch_device)
    spec = check_task_fits(loaded, args.task)
    data = load_encoded(spec, args.split, loaded.tokenizer, loaded.meta.max_seq_len,
                        DataOptions(args.data_source, args.glue_dir))
    policy = make_policy(args.policy, args.threshold) if args.policy else loaded.method.policy(loaded.method_config, args.threshold)
    trace = record_trace(loaded.model, data, meta=trace_meta(loaded, spec, args.split, args.model))
    result = predict_dynamic(loaded.model, data, policy, progress=not args.quiet) if args.mode == "dynamic" else replay(trace, policy)
    costs = trace_costs(trace.meta)
    table = pd.DataFrame({
        "index": range(len(data)), "label": data.labels, "prediction": result.prediction,
        "exit_layer": result.exit_layer, "layers_run": result.layers_run, "heads": result.heads, "gates": result.gates,
        "flops_paper": example_costs(result, costs, trace.meta.head_kind, "paper"),
    })
    write_csv(table, args.out)
    print(json.dumps({"mode": args.mode, "policy": policy.describe(), **summarise(trace, result, costs)}, indent=2))
