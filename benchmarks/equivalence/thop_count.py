"""FLOPs as the official SmartBERT code reports them, against ours.

The official ``main.py`` calls ``thop.profile(model, inputs)`` on every dev example at batch 1, inputs
padded to 128, which runs the inference loop once more with a hook on every module: ``nn.Linear``
counts in_features x output elements (multiply-accumulates, no bias), ``nn.LayerNorm`` 2 x 2 x
elements (thop 0.1.1's ``count_normalization`` with an affine), everything else (embedding lookups,
the functional softmax and matmuls of attention, tanh, GELU) nothing; a module called twice counts
twice. Ours (README, "FLOPs conventions"): ``paper``, 2 x the linear layers' MACs at length 128,
per component evaluated; ``fvcore``, MACs with attention matmuls and layer norms. Here each of our
components is also counted by thop itself, so the two codes' counts can be set side by side under
the official convention.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from smartbert.modeling.model import EarlyExitModel


class _Masked(nn.Module):
    """A component called as ``module(hidden, None)`` (thop passes only positional inputs)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, hidden: torch.Tensor) -> Any:
        return self.module(hidden, None)


def thop_macs(module: nn.Module, inputs: tuple) -> float:
    """Thop's count of ``module(*inputs)`` (the official convention)."""
    from thop import profile

    ops, _ = profile(module, inputs, verbose=False)
    return float(ops)


def our_components_thop(model: EarlyExitModel, seq_len: int = 128) -> dict[str, float]:
    """Thop's count of each of our components at batch 1, ``seq_len`` tokens."""
    hidden = torch.zeros(1, seq_len, model.encoder.hidden_size)
    ids = torch.zeros(1, seq_len, dtype=torch.long)
    with torch.no_grad():
        return {
            "embeddings": thop_macs(model.encoder.embeddings, (ids,)),
            "layer": thop_macs(_Masked(model.encoder.layers[0]), (hidden,)),
            "exit_classifier": thop_macs(_Masked(model.head(1)), (hidden,)),
            "skip_gate": thop_macs(_Masked(model.gate_modules()[0]), (hidden,)),
        }


def official_thop(model: nn.Module, example: dict, threshold: float, gates: bool = True) -> float:
    """``main.py``'s count for one example: ``profile(model, (ids, mask, types, None, True, labels))``;
    ``gates=False``: its first pass at S = 0, with ``skipped_rate`` 1.0 (no gate skips)."""
    model.threshold = threshold
    model.set_skipped_rate(0.5 if gates else 1.0)
    inputs = (example["input_ids"], example["attention_mask"], example["token_type_ids"], None, True, example["labels"])
    return thop_macs(model, inputs)
