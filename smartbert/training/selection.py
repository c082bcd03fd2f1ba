"""Per-task selection of a method's hyper-parameters on a held-out split of train (never dev).

The paper "slightly tunes the hyper-parameters across tasks" without saying how; run here with
the official defaults on RTE and MiniLM-L6, SmartBERT's gates collapsed (issue notes). So the
suite trains, for each task, the *first stage* at every grid point (e.g. lambda x eta1), scores it
on the held-out split along the gated inference path, and keeps the trade-off the method is about:
among non-collapsed points, the *cheapest* (fewest layers run) whose metric is within ``tolerance``
points of the best; the best metric alone would pick the lambda that skips nothing. A selected
point whose gates skip nothing is flagged ``inactive``.

With a ``resume`` folder every grid point is checkpointed per epoch and its finished row is kept, so
a killed or requeued selection redoes nothing it finished and ends with the same table.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from smartbert.core.config import config_hash, from_dict
from smartbert.core.errors import SmartBertError
from smartbert.core.formats import SELECTION
from smartbert.core.io import atomic_write_text
from smartbert.core.schema import check_finite
from smartbert.data.prepare import DataOptions
from smartbert.data.tasks import get_task
from smartbert.inference.record import record_trace
from smartbert.methods.registry import MethodConfig, get_method
from smartbert.modeling import backbones
from smartbert.replay.trace import skip_statistics
from smartbert.training.config import TrainConfig
from smartbert.training.pipeline import training_splits
from smartbert.training.precision import get_precision
from smartbert.training.resume import ResumeDir
from smartbert.training.trainer import train_stage

log = logging.getLogger("smartbert.select")


def parse_grid(items: list[str], config_class: type) -> dict[str, list[Any]]:
    """``["lam=0.01,0.05", "eta1=0.05"]`` -> {"lam": [0.01, 0.05], "eta1": [0.05]}, keys checked."""
    known = {f.name: f for f in dataclasses.fields(config_class)}
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, _, values = item.partition("=")
        if key not in known:
            raise SmartBertError(f"grid key {key!r} is not a field of {config_class.__name__}; known: {sorted(known)}")
        if not values:
            raise SmartBertError(f"grid entry {item!r} has no values; write e.g. {key}=0.01,0.05")
        grid[key] = [yaml.safe_load(v) for v in values.split(",")]
        check_finite(grid[key], f"grid {key}")
    if not grid:
        raise SmartBertError("empty grid; pass e.g. --grid lam=0.01,0.05,0.1")
    return grid


def select_hyperparameters(task: str, method_name: str, backbone: str, grid: dict[str, list[Any]],
                           train_config: TrainConfig, base_config: MethodConfig | None = None,
                           data: DataOptions | None = None, progress: bool = True,
                           device: torch.device | str = "cpu", resume: str | Path | None = None,
                           tolerance: float = 1.0) -> pd.DataFrame:
    """Train the first stage at every grid point on ``device``; one row per point with its held-out
    metric, mean layers run, collapse and inactive flags, ``within_tolerance`` and ``selected``
    (:func:`choose`). ``resume``: a folder for per-point checkpoints and finished rows (a rerun
    continues where a killed one stopped)."""
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise SmartBertError(f"selection tolerance must be a number of metric points >= 0, got {tolerance!r}")
    spec, method, device, data = get_task(task), get_method(method_name), torch.device(device), data or DataOptions()
    get_precision(train_config.precision).check(device)
    base_config = base_config or method.config_class()
    train_config = dataclasses.replace(train_config, selection="heldout")
    tokenizer = backbones.load_tokenizer(backbone)
    train, held_out, _ = training_splits(spec, tokenizer, train_config, data)
    what = {"method": method.name, "task": spec.name, "backbone": backbone}
    rows = []
    for index, values in enumerate(itertools.product(*grid.values())):
        point = dict(zip(grid, values))
        config = from_dict(method.config_class, {**dataclasses.asdict(base_config), **point}, "grid point")
        checkpoints = (ResumeDir(Path(resume) / _point_name(index, point), config_hash(train_config, config, what, data))
                       if resume else None)
        row = checkpoints.load_result("row") if checkpoints else None
        if row is not None:
            log.info("grid point %s: finished before, held-out %s %.2f", point, spec.main_metric, row["heldout_metric"])
        else:
            row = _train_point(point, method, config, backbone, spec, train, held_out, train_config, progress, device, checkpoints)
            if checkpoints:
                checkpoints.save_result("row", row)
            log.info("grid point %s: held-out %s %.2f", point, spec.main_metric, row["heldout_metric"])
        rows.append(row)
    return choose(pd.DataFrame(rows), tolerance)


def _point_name(index: int, point: dict[str, Any]) -> str:
    """A readable, file-safe folder name for a grid point: ``003-lam=0.01-eta1=0.05``."""
    text = "-".join(f"{key}={value}" for key, value in point.items())
    return f"{index:03d}-" + "".join(c if c.isalnum() or c in "=.-_" else "_" for c in text)[:100]


def _train_point(point, method, config, backbone, spec, train, held_out, train_config, progress, device,
                 checkpoints: ResumeDir | None) -> dict[str, Any]:
    """One grid point: its first stage trained from the backbone, and its held-out row."""
    torch.manual_seed(train_config.seed)
    model = method.build(backbones.load_backbone(backbone, seed=train_config.seed), spec.num_labels, config).to(device)
    stage = method.stages(config)[0]
    report = train_stage(model, stage, train, held_out, spec, train_config, progress, resume=checkpoints)
    row = {**point, "heldout_metric": report.best_metric, "best_epoch": report.best_epoch,
           "seconds": round(report.seconds, 1)}
    if model.gates is not None:
        stats = skip_statistics(record_trace(model, held_out, train_config.eval_batch_size, meta={}))
        row.update(mean_layers_run=stats["mean_layers_run"], collapsed=stats["collapsed"], inactive=stats["inactive"],
                   skip_rate_per_layer=stats["skip_rate_per_layer"])
    return {key: _plain(value) for key, value in row.items()}


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


def write_selection(table: pd.DataFrame, grid: dict[str, list[Any]], out: str | Path) -> dict[str, Any]:
    """``out/selection.csv`` and ``out/selected.yaml`` (usable as ``smartbert train --config``)."""
    out = Path(out)
    best = table[table["selected"]].iloc[0]
    chosen = {key: _plain(best[key]) for key in grid}
    SELECTION.write_csv(table, out / "selection.csv")
    atomic_write_text(out / "selected.yaml", yaml.safe_dump({"method": chosen}, sort_keys=False))
    return chosen


def _plain(value: Any) -> Any:
    """A NumPy / torch scalar or array as plain Python (JSON, YAML)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value.item() if hasattr(value, "item") else value
