"""A selection grid: parsed from ``KEY=V1,V2`` items, and its points in order, each with a file-safe name.

Light on purpose (no torch): the workflow plans one selection job per point from it.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import yaml

from smartbert.core.errors import SmartBertError
from smartbert.core.schema import check_finite


def parse_grid(items: list[str], config_class: type | None = None) -> dict[str, list[Any]]:
    """``["lam=0.01,0.05", "eta1=0.05"]`` -> {"lam": [0.01, 0.05], "eta1": [0.05]}; the keys checked
    against ``config_class``'s fields where given."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, _, values = item.partition("=")
        if config_class is not None and key not in (known := {f.name for f in dataclasses.fields(config_class)}):
            raise SmartBertError(f"grid key {key!r} is not a field of {config_class.__name__}; known: {sorted(known)}")
        if not values:
            raise SmartBertError(f"grid entry {item!r} has no values; write e.g. {key}=0.01,0.05")
        grid[key] = [yaml.safe_load(v) for v in values.split(",")]
        check_finite(grid[key], f"grid {key}")
    if not grid:
        raise SmartBertError("empty grid; pass e.g. --grid lam=0.01,0.05,0.1")
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every point of the grid, in grid order (the last key varies fastest)."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def point_name(index: int, point: dict[str, Any]) -> str:
    """A readable, file-safe name for a grid point: ``003-lam=0.01-eta1=0.05``."""
    text = "-".join(f"{key}={value}" for key, value in point.items())
    return f"{index:03d}-" + "".join(c if c.isalnum() or c in "=.-_" else "_" for c in text)[:100]


def point_names(grid: dict[str, list[Any]]) -> list[str]:
    """:func:`point_name` of every point, in grid order."""
    return [point_name(index, point) for index, point in enumerate(grid_points(grid))]


def point_index(grid: dict[str, list[Any]], index: int) -> dict[str, Any]:
    """The grid's point number ``index`` (0-based), or a one-line error naming the valid range."""
    points = grid_points(grid)
    if not 0 <= index < len(points):
        raise SmartBertError(f"grid point {index} does not exist: the grid has {len(points)} point(s), "
                             f"pass --point 0..{len(points) - 1}")
    return points[index]
