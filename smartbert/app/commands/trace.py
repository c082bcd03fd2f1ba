"""`smartbert trace`: record a model's trace over a split."""

from __future__ import annotations

import argparse

from smartbert.data.prepare import DataOptions
from smartbert.inference.tracing import trace_model


def run(args: argparse.Namespace) -> None:
    trace = trace_model(args.model, args.task, args.split, DataOptions(args.data_source, args.glue_dir),
                        args.batch_size, progress=not args.quiet, use_gates=not args.no_gates, device=args.torch_device)
    trace.save(args.out)
    print(f"traced {trace.num_examples} examples x {trace.num_layers} layers -> {args.out}")
