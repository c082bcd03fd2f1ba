"""The selection table from the rows of a grid's points: the chosen point marked (:func:`choose`), and
the two files a selection writes, ``selection.csv`` and ``selected.yaml``. No torch: the workflow's
gathering job (``smartbert choose``) runs it beside Snakemake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import SELECTION, SELECTION_ROW
from smartbert.core.io import atomic_write_text
from smartbert.training.grid import grid_points


def check_tolerance(tolerance: Any) -> None:
    """A one-line error unless ``tolerance`` is a number of metric points >= 0."""
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise SmartBertError(f"selection tolerance must be a number of metric points >= 0, got {tolerance!r}")


def choose(table: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """Mark the selected point: among non-collapsed points (all, if every one collapsed), those
    within ``tolerance`` metric points of the best are eligible (``within_tolerance``); the one
    running the fewest layers wins, then the higher metric, then grid order. Without gates (no
    layer counts): the best metric."""
    table = table.copy()
    usable = ~table["collapsed"].astype(bool) if "collapsed" in table and (~table["collapsed"].astype(bool)).any() \
        else pd.Series(True, index=table.index)
    best = table.loc[usable, "heldout_metric"].max()
    table["within_tolerance"] = usable & (table["heldout_metric"] >= best - tolerance - 1e-9)
    eligible = table[table["within_tolerance"]]
    if "mean_layers_run" in table:
        order, ascending = ["mean_layers_run", "heldout_metric"], [True, False]
    else:
        order, ascending = ["heldout_metric"], [False]
    table["selected"] = False
    table.loc[eligible.sort_values(order, ascending=ascending, kind="stable").index[0], "selected"] = True
    return table


def gather(rows: list[dict[str, Any]], grid: dict[str, list[Any]], tolerance: float = 1.0) -> pd.DataFrame:
    """The selection table from the rows of every grid point, in grid order, the chosen one marked
    (:func:`choose`); a row of another point than its place in the grid is a one-line error."""
    check_tolerance(tolerance)
    points = grid_points(grid)
    if len(rows) != len(points):
        raise SmartBertError(f"{len(rows)} selection row(s) for a grid of {len(points)} point(s): pass one row per grid point")
    for index, (row, point) in enumerate(zip(rows, points)):
        if {key: row.get(key) for key in point} != point:
            raise SmartBertError(f"selection row {index} is of grid point {({k: row.get(k) for k in point})}, not {point}: "
                                 "pass the rows in grid order, each from the same grid")
    return choose(pd.DataFrame(rows), tolerance)


def write_point_row(row: dict[str, Any], path: str | Path) -> None:
    """One grid point's row as a file (``smartbert select --point``) for the gathering job."""
    SELECTION_ROW.write_json({"row": row}, path)


def read_point_rows(paths: list[str | Path]) -> list[dict[str, Any]]:
    """The rows :func:`write_point_row` wrote, in the order of ``paths``."""
    return [SELECTION_ROW.read_json(path)["row"] for path in paths]


def write_selection(table: pd.DataFrame, grid: dict[str, list[Any]], out: str | Path) -> dict[str, Any]:
    """``out/selection.csv`` and ``out/selected.yaml`` (usable as ``smartbert train --config``)."""
    out = Path(out)
    best = table[table["selected"]].iloc[0]
    chosen = {key: plain(best[key]) for key in grid}
    SELECTION.write_csv(table, out / "selection.csv")
    atomic_write_text(out / "selected.yaml", yaml.safe_dump({"method": chosen}, sort_keys=False))
    return chosen


def plain(value: Any) -> Any:
    """A NumPy / torch scalar or array as plain Python (JSON, YAML)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value.item() if hasattr(value, "item") else value
