"""Recording a trace: a model run once over a split along its inference path (docs/design.md, "Trace
and replay"); :mod:`smartbert.replay.trace` holds the trace and replays it without torch."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.modeling.device import model_device, to_device
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.trace import Trace, TraceMeta


def record_trace(model: EarlyExitModel, data: EncodedSplit, batch_size: int = 64, meta: dict[str, Any] | None = None,
                 progress: bool = False, use_gates: bool = True) -> Trace:
    """Run ``model`` once over ``data`` along its inference path (:meth:`EarlyExitModel.walk`);
    ``use_gates=False`` records the exit-only path (every layer runs; ``walk`` runs without gradients)."""
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
        for step in model.walk(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], use_gates):
            i = step.layer - 1
            ran[rows, i] = step.ran.cpu().numpy()
            evaluated[rows, i] = step.evaluated.cpu().numpy()
            logits[rows, i] = step.logits.cpu().numpy()
            if step.gate_prob is not None:
                gate_prob[rows, i] = step.gate_prob.float().cpu().numpy()
    recorded = TraceMeta(**{**(meta or {}), "has_gates": model.gates is not None and use_gates,
                            "exit_layers": list(model.exit_layers), "head_kind": model.head_kind, "num_layers": num_layers,
                            "num_labels": num_labels})
    return Trace(np.asarray(data.labels), ran, evaluated, logits, gate_prob, np.asarray(data.lengths()), recorded)
