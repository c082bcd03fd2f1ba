"""Recording a trace: a model run once over a split along its inference path (docs/design.md, "Trace
and replay"); :mod:`smartbert.replay.trace` holds the trace and replays it without torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.modeling.device import model_device, to_device
from smartbert.modeling.model import EarlyExitModel, LayerStep
from smartbert.replay.trace import Trace, TraceMeta


def record_trace(model: EarlyExitModel, data: EncodedSplit, batch_size: int = 64, meta: dict[str, Any] | None = None,
                 progress: bool = False, use_gates: bool = True) -> Trace:
    """Run ``model`` once over ``data`` along its inference path (:meth:`EarlyExitModel.walk`);
    ``use_gates=False`` records the exit-only path (every layer runs; ``walk`` runs without gradients).
    The device is read once per batch, plus once per gated layer (which rows run)."""
    model.eval()
    device = model_device(model)
    n, num_layers, num_labels = len(data), model.num_layers, model.num_labels
    ran = np.zeros((n, num_layers), dtype=bool)
    evaluated = np.zeros((n, num_layers), dtype=bool)
    logits = np.full((n, num_layers, num_labels), np.nan, dtype=np.float32)
    gate_prob = np.full((n, num_layers), np.nan, dtype=np.float32)
    batches = iterate_batches(data, batch_size, shuffle=False)
    if progress:
        batches = tqdm(batches, total=-(-n // batch_size), desc="trace", unit="batch")
    for batch in batches:
        rows = batch["index"].numpy()
        batch = to_device(batch, device)
        outputs = []  # per layer [B, C + 1]: logits and gate probability, read from the device once per batch
        for step in model.walk(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], use_gates):
            ran[rows, step.layer - 1] = step.ran
            evaluated[rows, step.layer - 1] = step.evaluated
            outputs.append(_layer_outputs(step, len(rows), num_labels, batch["input_ids"].device))
        read = torch.stack(outputs, dim=1).cpu().numpy()
        logits[rows] = read[..., :num_labels]
        gate_prob[rows] = read[..., num_labels]
    recorded = TraceMeta(**{**(meta or {}), "has_gates": model.gates is not None and use_gates,
                            "exit_layers": list(model.exit_layers), "head_kind": model.head_kind, "num_layers": num_layers,
                            "num_labels": num_labels})
    return Trace(np.asarray(data.labels), ran, evaluated, logits, gate_prob, np.asarray(data.lengths()), recorded)


def _layer_outputs(step: LayerStep, batch: int, num_labels: int, device: torch.device) -> torch.Tensor:
    """[B, C + 1] float32 on the device: the layer's logits (NaN where not evaluated) and gate probability (NaN without gates)."""
    logits = step.logits if step.logits is not None else torch.full((batch, num_labels), float("nan"), device=device)
    gate = (step.gate_prob.float() if step.gate_prob is not None
            else torch.full((batch,), float("nan"), device=device))
    return torch.cat([logits, gate[:, None]], dim=1)
