"""`smartbert select`: choose a method's hyper-parameters per task on a held-out split of train."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from smartbert.app.commands.configs import train_and_method_configs
from smartbert.data.prepare import DataOptions
from smartbert.methods.registry import get_method
from smartbert.training.resume import folder_beside
from smartbert.training.selection import (
    parse_grid,
    select_hyperparameters,
    write_selection,
)


def run(args: argparse.Namespace) -> None:
    method = get_method(args.method)
    train_config, method_config = train_and_method_configs(args, method)
    grid = parse_grid(args.grid, method.config_class)
    resume = None if args.no_resume else folder_beside(args.out)
    table = select_hyperparameters(args.task, args.method, args.backbone, grid, train_config, method_config,
                                   DataOptions(args.data_source, args.glue_dir), progress=not args.quiet,
                                   device=args.torch_device, resume=resume, tolerance=args.tolerance)
    chosen = write_selection(table, grid, args.out)
    if resume:
        shutil.rmtree(resume, ignore_errors=True)
    print(table.to_string(index=False))
    print(f"selected {chosen} -> {Path(args.out) / 'selected.yaml'} (pass it to `smartbert train --config`)")
