"""True dynamic inference: layers after the exit are never computed. At batch size 1
(:func:`predict_dynamic`, what the official codes and latency use) and batched with compaction
(:func:`predict_batched`). Replay must equal both (docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from smartbert.data.encode import EncodedSplit, collate, iterate_batches
from smartbert.modeling.device import model_device, to_device
from smartbert.modeling.encoder import additive_mask
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.policies import ExitPolicy
from smartbert.replay.trace import Replay, resolve_exits


@dataclass
class DynamicResult:
    exit_layer: int
    prediction: int
    layers_run: int
    heads: int
    gates: int


@torch.inference_mode()
def predict_one(model: EarlyExitModel, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                policy: ExitPolicy, use_gates: bool = True) -> DynamicResult:
    """Walk one example (batch of 1, no padding, on the model's device) and stop at the first
    layer the policy exits. The device is read once per evaluated head (its logits) and once per
    gated layer: a static model (one head, no gates) is one forward and one read."""
    has_gates = model.gates is not None and use_gates
    num_layers = model.num_layers
    ran = np.zeros((1, num_layers), dtype=bool)
    evaluated = np.zeros((1, num_layers), dtype=bool)
    logits = np.full((1, num_layers, model.num_labels), np.nan, dtype=np.float32)
    for layer, step in enumerate(model.walk(input_ids, token_type_ids, None, use_gates, policy.reads_exit_heads), start=1):
        ran[0, layer - 1], evaluated[0, layer - 1] = step.ran[0], step.evaluated[0]
        if step.logits is None:
            continue
        logits[0, layer - 1] = step.logits.cpu().numpy()[0]
        if policy.exits_at_last(logits[:, :layer], evaluated[:, :layer])[0]:
            break
    # the walk stopped at the exit (or the last layer): count exactly as replay does, on the
    # prefix that was computed, whose last layer is the exit
    result = resolve_exits(np.zeros((1, layer), dtype=bool), ran[:, :layer], evaluated[:, :layer],
                           logits[:, :layer], has_gates)
    return DynamicResult(int(result.exit_layer[0]), int(result.prediction[0]), int(result.layers_run[0]),
                         int(result.heads[0]), int(result.gates[0]))


def predict_dynamic(model: EarlyExitModel, data: EncodedSplit, policy: ExitPolicy, progress: bool = False,
                    use_gates: bool = True) -> Replay:
    """:func:`predict_one` over every example of ``data``, gathered like a :class:`Replay`."""
    model.eval()
    device = model_device(model)
    indices = range(len(data))
    if progress:
        indices = tqdm(indices, desc="dynamic inference", unit="ex")
    results = []
    for i in indices:
        batch = to_device(collate(data, [i]), device)
        results.append(predict_one(model, batch["input_ids"], batch["token_type_ids"], policy, use_gates))
    return gather(results)


def gather(results: list[DynamicResult]) -> Replay:
    """Per-example results of :func:`predict_one`, as one :class:`Replay`."""
    column = lambda name: np.array([getattr(r, name) for r in results])  # noqa: E731
    return Replay(column("exit_layer"), column("prediction"), column("layers_run"), column("heads"), column("gates"))


@torch.inference_mode()
def predict_batched(model: EarlyExitModel, data: EncodedSplit, policy: ExitPolicy, batch_size: int = 32,
                    use_gates: bool = True) -> Replay:
    """Dynamic inference on batches: every example skips and exits on its own, and the batch
    compacts as examples leave (their rows, and padding no remaining row needs, are dropped), so
    computation follows the exits as at batch 1. Same predictions and exit layers as
    :func:`predict_dynamic` (tests prove it); batches group similar lengths (less padding). The
    device is read once per layer with an evaluated head, and once per gated layer."""
    model.eval()
    device = model_device(model)
    n, num_layers = len(data), model.num_layers
    ran = np.zeros((n, num_layers), dtype=bool)
    evaluated = np.zeros((n, num_layers), dtype=bool)
    logits = np.full((n, num_layers, model.num_labels), np.nan, dtype=np.float32)
    exits = np.zeros((n, num_layers), dtype=bool)
    for batch in iterate_batches(data, batch_size, shuffle=False, group_by_length=True):
        rows = batch["index"].numpy()
        lengths = batch["attention_mask"].sum(dim=1).numpy()  # on the host: the width after compaction needs no read
        batch = to_device(batch, device)
        hidden = model.encoder.embed(batch["input_ids"], batch["token_type_ids"])
        attention = batch["attention_mask"]
        mask = additive_mask(attention, hidden.dtype)
        for layer in range(1, num_layers + 1):
            hidden, step = model.step(layer, hidden, mask, use_gates, policy.reads_exit_heads)
            ran[rows, layer - 1] = step.ran
            evaluated[rows, layer - 1] = step.evaluated
            if step.logits is not None:
                logits[rows, layer - 1] = step.logits.cpu().numpy()  # the layer's one read (exit decisions)
            if layer == num_layers:
                break
            fired = policy.exits_at_last(logits[rows, :layer], evaluated[rows, :layer]) & step.evaluated
            exits[rows[fired], layer - 1] = True
            if fired.all():
                break
            if fired.any():
                keep = torch.from_numpy(np.flatnonzero(~fired)).to(device, non_blocking=True)  # device idle: just read
                rows, lengths = rows[~fired], lengths[~fired]
                width = int(lengths.max())  # padding beyond the longest remaining row is dropped
                hidden = hidden.index_select(0, keep)[:, :width]
                attention = attention.index_select(0, keep)[:, :width]
                mask = additive_mask(attention, hidden.dtype)
    return resolve_exits(exits, ran, evaluated, logits, model.gates is not None and use_gates)
