"""`smartbert trace`: a saved model run once over a split, its trace recorded with what it came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from smartbert.core.errors import CheckpointError
from smartbert.core.provenance import provenance
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.data.tasks import TaskSpec, get_task
from smartbert.inference.record import record_trace
from smartbert.methods.checkpoint import LoadedModel, load_model, read_provenance
from smartbert.modeling.device import device_info, model_device
from smartbert.replay.cost import BackboneShape
from smartbert.replay.trace import Trace


def trace_model(model_dir: str | Path, task: str | None = None, split: str = "dev", data: DataOptions | None = None,
                batch_size: int = 64, progress: bool = True, use_gates: bool = True,
                device: torch.device | str = "cpu") -> Trace:
    """Run a saved model once over ``split`` on ``device`` along its inference path and record the
    trace (``use_gates=False``: the exit-only path, every layer runs)."""
    loaded = load_model(model_dir, device=device)
    spec = check_task_fits(loaded, task)
    encoded = load_encoded(spec, split, loaded.tokenizer, loaded.meta.max_seq_len, data or DataOptions())
    meta = dict(trace_meta(loaded, spec, split, model_dir), gates_used=use_gates)
    return record_trace(loaded.model, encoded, batch_size, meta, progress, use_gates)


def check_task_fits(loaded: LoadedModel, task: str | None) -> TaskSpec:
    """The task to evaluate on (default: the one trained on); its labels must be the model's."""
    spec = get_task(task or loaded.meta.task)
    if list(spec.labels) != list(loaded.meta.labels):
        raise CheckpointError(
            f"the model was trained on {loaded.meta.task} with labels {loaded.meta.labels}; "
            f"{spec.name} has labels {list(spec.labels)}: evaluate it on a task with the same labels"
        )
    return spec


def trace_meta(loaded: LoadedModel, spec: TaskSpec, split: str, model_dir: str | Path) -> dict[str, Any]:
    config = loaded.model.encoder.config
    # a student (DistilBERT recipe) runs fewer layers than its backbone: cost stays relative to the backbone
    shape = dataclasses.replace(BackboneShape.from_config(config), num_layers=loaded.model.num_layers)
    return {
        "method": loaded.method.name,
        "default_policy": loaded.method.default_policy,
        "label": loaded.method.label(loaded.meta.method_config),
        "task": spec.name,
        "trained_on": loaded.meta.task,
        "split": split,
        "backbone": loaded.meta.backbone,
        "shape": shape.as_dict(),
        "reference_layers": config.num_hidden_layers,
        "max_seq_len": loaded.meta.max_seq_len,
        "model_dir": str(model_dir),
        "method_config": loaded.meta.method_config,
        "provenance": provenance(seed=loaded.meta.seed, device=device_info(model_device(loaded.model))),
        "model_provenance": read_provenance(model_dir),
    }
