"""`smartbert select`: choose a method's hyper-parameters per task on a held-out split of train, or
(``--point I --row FILE``) train one grid point and write its row for `smartbert choose`."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from smartbert.app.commands.configs import train_and_method_configs
from smartbert.core.errors import SmartBertError
from smartbert.data.prepare import DataOptions
from smartbert.methods.registry import get_method
from smartbert.training.choice import write_point_row, write_selection
from smartbert.training.grid import parse_grid
from smartbert.training.resume import folder_beside
from smartbert.training.selection import select_hyperparameters, select_point


def run(args: argparse.Namespace) -> None:
    if (args.point is None) != (args.row is None):
        raise SmartBertError("--point and --row go together: pass both to train one grid point, or neither for the whole grid")
    method = get_method(args.method)
    train_config, method_config = train_and_method_configs(args, method)
    grid = parse_grid(args.grid, method.config_class)
    resume = None if args.no_resume else folder_beside(args.out)
    data = DataOptions(args.data_source, args.glue_dir)
    if args.point is not None:
        row = select_point(args.task, args.method, args.backbone, grid, args.point, train_config, method_config, data,
                           progress=not args.quiet, device=args.torch_device, resume=resume)
        write_point_row(row, args.row)
        print(f"grid point {args.point}: {row} -> {args.row}")
        return
    table = select_hyperparameters(args.task, args.method, args.backbone, grid, train_config, method_config,
                                   data, progress=not args.quiet,
                                   device=args.torch_device, resume=resume, tolerance=args.tolerance)
    chosen = write_selection(table, grid, args.out)
    if resume:
        shutil.rmtree(resume, ignore_errors=True)
    print(table.to_string(index=False))
    print(f"selected {chosen} -> {Path(args.out) / 'selected.yaml'} (pass it to `smartbert train --config`)")
