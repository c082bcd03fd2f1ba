"""Per-task selection of a method's hyper-parameters on a held-out split of train (never dev).

The paper "slightly tunes the hyper-parameters across tasks" without saying how; run here with
the official defaults on RTE and MiniLM-L6, SmartBERT's gates collapsed (issue notes). So the
suite trains, for each task, the *first stage* at every grid point (e.g. lambda x eta1), scores it
on the held-out split along the gated inference path, and keeps the trade-off the method is about:
among non-collapsed points, the *cheapest* (fewest layers run) whose metric is within ``tolerance``
points of the best; the best metric alone would pick the lambda that skips nothing. A selected
point whose gates skip nothing is flagged ``inactive``.

Each grid point is a unit of its own (:func:`select_point`: one workflow job per point, side by side);
:func:`smartbert.training.choice.gather` turns their rows into the table. With a ``resume`` folder every
grid point is checkpointed per epoch and its finished row is kept, so a killed or requeued selection
redoes nothing it finished and ends with the same table.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from smartbert.core.config import config_hash, from_dict
from smartbert.data.prepare import DataOptions
from smartbert.data.tasks import get_task
from smartbert.inference.record import record_trace
from smartbert.methods.registry import MethodConfig, get_method
from smartbert.modeling import backbones
from smartbert.replay.trace import skip_statistics
from smartbert.training.choice import check_tolerance, gather, plain
from smartbert.training.config import TrainConfig
from smartbert.training.grid import grid_points, point_index, point_name
from smartbert.training.pipeline import training_splits
from smartbert.training.precision import get_precision
from smartbert.training.resume import ResumeDir
from smartbert.training.trainer import train_stage

log = logging.getLogger("smartbert.select")


def select_hyperparameters(task: str, method_name: str, backbone: str, grid: dict[str, list[Any]],
                           train_config: TrainConfig, base_config: MethodConfig | None = None,
                           data: DataOptions | None = None, progress: bool = True,
                           device: torch.device | str = "cpu", resume: str | Path | None = None,
                           tolerance: float = 1.0) -> pd.DataFrame:
    """Train the first stage at every grid point on ``device``, one after another (:func:`select_point`),
    and :func:`gather` their rows: held-out metric, mean layers run, collapse and inactive flags,
    ``within_tolerance`` and ``selected``. ``resume``: a folder for per-point checkpoints and finished
    rows (a rerun continues where a killed one stopped)."""
    check_tolerance(tolerance)
    setup = _Setup.of(task, method_name, backbone, train_config, base_config, data, device)
    rows = [setup.row(index, point, progress, resume) for index, point in enumerate(grid_points(grid))]
    return gather(rows, grid, tolerance)


def select_point(task: str, method_name: str, backbone: str, grid: dict[str, list[Any]], index: int,
                 train_config: TrainConfig, base_config: MethodConfig | None = None, data: DataOptions | None = None,
                 progress: bool = True, device: torch.device | str = "cpu",
                 resume: str | Path | None = None) -> dict[str, Any]:
    """The row of the grid's point number ``index`` alone (one workflow job per point): its first stage
    trained and scored as :func:`select_hyperparameters` does, checkpointed in the same ``resume`` folder."""
    point = point_index(grid, index)
    setup = _Setup.of(task, method_name, backbone, train_config, base_config, data, device)
    return setup.row(index, point, progress, resume)


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What every grid point of one selection shares: the task, method, configs, device and data splits."""

    spec: Any
    method: Any
    backbone: str
    train_config: TrainConfig
    base_config: MethodConfig
    data: DataOptions
    device: torch.device
    train: Any
    held_out: Any

    @classmethod
    def of(cls, task: str, method_name: str, backbone: str, train_config: TrainConfig, base_config: MethodConfig | None,
           data: DataOptions | None, device: torch.device | str) -> _Setup:
        spec, method, device, data = get_task(task), get_method(method_name), torch.device(device), data or DataOptions()
        get_precision(train_config.precision).check(device)
        train_config = dataclasses.replace(train_config, selection="heldout")
        tokenizer = backbones.load_tokenizer(backbone)
        train, held_out, _ = training_splits(spec, tokenizer, train_config, data)
        return cls(spec, method, backbone, train_config, base_config or method.config_class(), data, device, train, held_out)

    def row(self, index: int, point: dict[str, Any], progress: bool, resume: str | Path | None) -> dict[str, Any]:
        """The point's row: kept from ``resume`` where it finished before, else trained (and kept there)."""
        spec, method = self.spec, self.method
        config = from_dict(method.config_class, {**dataclasses.asdict(self.base_config), **point}, "grid point")
        what = {"method": method.name, "task": spec.name, "backbone": self.backbone}
        checkpoints = (ResumeDir(Path(resume) / point_name(index, point), config_hash(self.train_config, config, what, self.data))
                       if resume else None)
        row = checkpoints.load_result("row") if checkpoints else None
        if row is not None:
            log.info("grid point %s: finished before, held-out %s %.2f", point, spec.main_metric, row["heldout_metric"])
            return row
        row = _train_point(point, method, config, self.backbone, spec, self.train, self.held_out, self.train_config, progress,
                           self.device, checkpoints)
        if checkpoints:
            checkpoints.save_result("row", row)
        log.info("grid point %s: held-out %s %.2f", point, spec.main_metric, row["heldout_metric"])
        return row


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
    return {key: plain(value) for key, value in row.items()}
