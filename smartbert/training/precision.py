"""Training precision (``train.precision``): what each value means, where it runs, and the one
optimisation step that applies it. Master weights and optimizer state stay float32 in every mode;
inference (traces, dynamic inference, latency) always runs in float32, so replay == dynamic
inference does not depend on how a model was trained.

| value | forward/backward                         | where                  | cost in accuracy                       |
|-------|------------------------------------------|------------------------|----------------------------------------|
| fp32  | float32 (the paper)                      | everywhere             | none (reference)                       |
| tf32  | float32, matmuls on TF32 tensor cores    | CUDA, Ampere and later | products keep a 10-bit mantissa        |
| bf16  | autocast to bfloat16                     | CPU, CUDA Ampere+      | 8-bit mantissa in matmuls (RTE: below) |
| fp16  | autocast to float16 + dynamic loss scale | CPU, CUDA (V100/T4)    | overflow handled by the scaler         |

Measured on the CPU (full RTE, MiniLM-L6): SmartBERT's last head 57.4 (fp32) vs 57.0 (bf16),
within one example's noise (benchmarks/README.md). On a GPU ``make gpu-check`` measures fp32 vs
bf16; until it has run on one, no GPU accuracy is claimed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from smartbert.core.errors import SmartBertError

#: fp16 only: this many optimisation steps in a row with a non-finite loss or gradients (each
#: skipped by the scaler, which halves its scale) means the model itself overflows float16.
MAX_SKIPPED_STEPS = 20


@dataclass(frozen=True)
class Precision:
    name: str
    autocast: torch.dtype | None  # the dtype matmuls run in under torch.autocast (None: no autocast)
    scaled: bool                  # dynamic loss scaling (torch.amp.GradScaler): float16's small range needs it
    tf32: bool                    # TF32 tensor-core matmuls for float32 (CUDA only)
    needs_cuda: bool
    min_capability: tuple[int, int] | None  # of a CUDA GPU (Ampere = 8.0)

    def check(self, device: torch.device) -> None:
        """A one-line error if this precision cannot run on ``device``, before any work."""
        if device.type != "cuda":
            if self.needs_cuda:
                raise SmartBertError(f"train.precision {self.name!r} needs a CUDA GPU (Ampere or newer); on "
                                     f"{device.type} use fp32 or bf16")
            return
        if self.min_capability:
            major, minor = torch.cuda.get_device_capability(device)
            if (major, minor) < self.min_capability:
                raise SmartBertError(f"train.precision {self.name!r} needs compute capability "
                                     f"{'.'.join(map(str, self.min_capability))} (Ampere) or newer; "
                                     f"{torch.cuda.get_device_name(device)} has {major}.{minor}: use fp16 or fp32")


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", None, scaled=False, tf32=False, needs_cuda=False, min_capability=None),
    Precision("tf32", None, scaled=False, tf32=True, needs_cuda=True, min_capability=(8, 0)),
    Precision("bf16", torch.bfloat16, scaled=False, tf32=False, needs_cuda=False, min_capability=(8, 0)),
    Precision("fp16", torch.float16, scaled=True, tf32=False, needs_cuda=False, min_capability=None),
)}


def get_precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise SmartBertError(f"precision must be one of {sorted(PRECISIONS)}, got {name!r}")
    return PRECISIONS[name]


class NonFiniteLossError(SmartBertError):
    """Training produced a NaN or infinite loss (fp16: for MAX_SKIPPED_STEPS steps in a row)."""


class MixedPrecision:
    """A training stage's precision at run time: autocast, the TF32 switch, and (fp16) the loss
    scaler, whose state a resumed training restores."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = get_precision(precision)
        self.precision.check(device)
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type) if self.precision.scaled else None
        self.skipped_in_a_row = 0
        if device.type == "cuda":  # TF32 only where asked for: fp32 means float32 products
            torch.backends.cuda.matmul.allow_tf32 = self.precision.tf32
            torch.backends.cudnn.allow_tf32 = self.precision.tf32

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.precision.autocast
        return torch.autocast(device_type=self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def step(self, loss: torch.Tensor, terms: dict, trainable: list[nn.Parameter], optimizer: torch.optim.Optimizer,
             max_grad_norm: float, where: str) -> bool:
        """Backward, gradient clipping (on unscaled gradients), optimizer step; False if the scaler
        skipped the step. A non-finite loss is an error at once, except under fp16, where the
        scaler skips the step and lowers its scale (an error only after MAX_SKIPPED_STEPS in a row)."""
        if self.scaler is None:
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"{where}: non-finite loss {loss.item()} (terms: {_terms(terms)}). "
                                         "Lower the learning rate or check the loss weights.")
            loss.backward()
            nn.utils.clip_grad_norm_(trainable, max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return True
        scale = self.scaler.get_scale()
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        self.scaler.step(optimizer)  # skipped when a gradient is inf/NaN
        self.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        stepped = self.scaler.get_scale() >= scale  # the scale only drops on a skipped step
        self.skipped_in_a_row = 0 if stepped else self.skipped_in_a_row + 1
        if self.skipped_in_a_row >= MAX_SKIPPED_STEPS:
            raise NonFiniteLossError(f"{where}: fp16 gave non-finite losses or gradients for {MAX_SKIPPED_STEPS} steps in a "
                                     f"row (loss {loss.item()}, loss scale now {self.scaler.get_scale():g}; terms: "
                                     f"{_terms(terms)}): the model overflows float16; use bf16 or fp32")
        return stepped

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def _terms(terms: dict) -> str:
    return ", ".join(f"{k}={float(torch.as_tensor(v).detach()):.4g}" for k, v in terms.items())
