"""True dynamic inference at batch size 1: layers after the exit are never computed.

This is what latency is measured on, and what replay must equal (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from smartbert.data.encode import EncodedSplit, collate
from smartbert.model import EarlyExitModel
from smartbert.policies import ExitPolicy
from smartbert.trace import Replay, resolve_exits


@dataclass
class DynamicResult:
    exit_layer: int
    prediction: int
    layers_run: int
    heads: int
    gates: int


@torch.no_grad()
def predict_one(model: EarlyExitModel, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                policy: ExitPolicy, use_gates: bool = True) -> DynamicResult:
    """Walk one example (batch of 1, no padding) and stop at the first layer the policy exits."""
    has_gates = model.gates is not None and use_gates
    ran, evaluated, logits = [], [], []
    for step in model.walk(input_ids, token_type_ids, None, use_gates):
        ran.append(bool(step.ran[0]))
        evaluated.append(bool(step.evaluated[0]))
        logits.append(step.logits[0].numpy())
        if evaluated[-1] and policy.exit_mask(np.stack(logits)[None], np.array([evaluated]))[0, -1]:
            break
    # the walk stopped at the exit (or the last layer): count exactly as replay does, on the
    # prefix that was computed, whose last layer is the exit
    result = resolve_exits(np.zeros((1, len(ran)), dtype=bool), np.array([ran]), np.array([evaluated]),
                           np.stack(logits)[None], has_gates)
    return DynamicResult(int(result.exit_layer[0]), int(result.prediction[0]), int(result.layers_run[0]),
                         int(result.heads[0]), int(result.gates[0]))


def predict_dynamic(model: EarlyExitModel, data: EncodedSplit, policy: ExitPolicy, progress: bool = False,
                    use_gates: bool = True) -> Replay:
    """:func:`predict_one` over every example of ``data``, gathered like a :class:`Replay`."""
    model.eval()
    indices = range(len(data))
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="dynamic inference", unit="ex")
    results = []
    for i in indices:
        batch = collate(data, [i])
        results.append(predict_one(model, batch["input_ids"], batch["token_type_ids"], policy, use_gates))
    column = lambda name: np.array([getattr(r, name) for r in results])  # noqa: E731
    return Replay(column("exit_layer"), column("prediction"), column("layers_run"), column("heads"), column("gates"))

