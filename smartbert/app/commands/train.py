"""`smartbert train`: train a method on a task and save the model directory."""

from __future__ import annotations

import argparse
import json

from smartbert.app.commands.configs import train_and_method_configs
from smartbert.core.errors import SmartBertError
from smartbert.data.prepare import DataOptions
from smartbert.methods.registry import get_method
from smartbert.training.pipeline import train_method


def run(args: argparse.Namespace) -> None:
    train_config, method_config = train_and_method_configs(args, get_method(args.method))
    init_from = {}
    for item in args.init_from:
        name, sep, directory = item.partition("=")
        if not sep or not directory:
            raise SmartBertError(f"--init-from takes METHOD=DIR (e.g. bert=runs/RTE/bert), got {item!r}")
        init_from[name] = directory
    summary = train_method(args.task, args.method, args.backbone, args.out, train_config, method_config,
                           DataOptions(args.data_source, args.glue_dir), progress=not args.quiet, init_from=init_from,
                           resume=not args.no_resume, device=args.torch_device)
    gates = summary.gates and {k: {"mean_layers_run": v["mean_layers_run"], "skip_rate_per_layer": v["skip_rate_per_layer"],
                                   "collapsed": v["collapsed"]} for k, v in summary.gates.items()}
    print(json.dumps({"model": args.out, "task": summary.task, "dev_no_exit": summary.dev_metrics_no_exit,
                      "majority_class": summary.dev_majority_class, "dev_exit_heads": summary.dev_exit_head_metrics,
                      "gates": gates, "best_epochs": summary.best_epochs(),
                      "stage_seconds": {s["stage"]: round(s["seconds"], 1) for s in summary.stages},
                      "train_seconds": round(summary.train_seconds, 1), "device": summary.device}, indent=2))
