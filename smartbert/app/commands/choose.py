"""`smartbert choose`: the selection table from the rows of `smartbert select --point` (one per grid point)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from smartbert.core.io import folder_beside
from smartbert.training.choice import gather, read_point_rows, write_selection
from smartbert.training.grid import parse_grid


def run(args: argparse.Namespace) -> None:
    grid = parse_grid(args.grid)  # its keys were checked when the points were trained
    table = gather(read_point_rows(args.rows), grid, args.tolerance)
    chosen = write_selection(table, grid, args.out)
    shutil.rmtree(folder_beside(args.out), ignore_errors=True)  # every point's checkpoints: the selection is written
    print(table.to_string(index=False))
    print(f"selected {chosen} -> {Path(args.out) / 'selected.yaml'} (pass it to `smartbert train --config`)")
