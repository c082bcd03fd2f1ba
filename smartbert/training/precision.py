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

The TF32 switch is process-wide in torch: it is on only inside a stage's forward (``autocast()``)
and its backward and optimizer step, and restored after, so evaluation, traces and latency measured
later in the same process run in float32. Whether a step's loss and gradients were finite stays on
the device (a skipped step never touches the weights) and is read every :data:`CHECK_EVERY` steps,
not every step: waiting for the GPU once per step would cost more than the check.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from smartbert.core.errors import SmartBertError

#: fp16 only: this many optimisation steps in a row with a non-finite loss or gradients (each
#: skipped by the scaler, which halves its scale) means the model itself overflows float16.
MAX_SKIPPED_STEPS = 20
#: steps between two reads of the device's non-finite flags (one host sync each; the first step is
#: read at once, so a setup that fails from the start stops at step 0).
CHECK_EVERY = 50


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


@dataclass
class _Pending:
    """A step whose non-finite flag the host has not read yet."""

    where: str
    loss: torch.Tensor
    terms: dict
    bad: torch.Tensor  # on the device: True where the loss or a gradient was not finite (the step was skipped)


class MixedPrecision:
    """A training stage's precision at run time: autocast, the TF32 switch (scoped), and (fp16) the
    loss scaler, whose state a resumed training restores."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = get_precision(precision)
        self.precision.check(device)
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type) if self.precision.scaled else None
        self._pending: list[_Pending] = []
        self._skipped_run = 0  # fp16: skipped steps in a row, as of the last read
        self._read = False     # whether a step was read yet (the first one is read at once)

    @contextlib.contextmanager
    def tf32(self) -> Iterator[None]:
        """TF32 matmuls on or off as this precision says (CUDA), for the enclosed code only."""
        if self.device.type != "cuda":
            yield
            return
        matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
        saved = matmul.allow_tf32, cudnn.allow_tf32
        matmul.allow_tf32 = cudnn.allow_tf32 = self.precision.tf32
        try:
            yield
        finally:
            matmul.allow_tf32, cudnn.allow_tf32 = saved

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """The forward pass's precision: TF32 as asked (scoped), autocast to the precision's dtype."""
        dtype = self.precision.autocast
        with self.tf32(), torch.autocast(device_type=self.device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            yield

    def step(self, loss: torch.Tensor, terms: dict, trainable: list[nn.Parameter], optimizer: torch.optim.Optimizer,
             max_grad_norm: float, where: str) -> None:
        """Backward, gradient clipping (on unscaled gradients), optimizer step. A step whose loss or
        gradients are not finite is skipped on the device (the weights stay); :meth:`check` stops the
        training at the next read. Under fp16 the scaler skips such steps and lowers its scale, and
        only MAX_SKIPPED_STEPS in a row are an error."""
        with self.tf32():
            if self.scaler is None:
                self._plain_step(loss, terms, trainable, optimizer, max_grad_norm, where)
            else:
                self._scaled_step(loss, terms, trainable, optimizer, max_grad_norm, where)
        optimizer.zero_grad(set_to_none=True)
        if self._due():
            self.check()

    def _plain_step(self, loss: torch.Tensor, terms: dict, trainable: list[nn.Parameter],
                    optimizer: torch.optim.Optimizer, max_grad_norm: float, where: str) -> None:
        loss.backward()
        norm = nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        bad = ~(torch.isfinite(loss) & torch.isfinite(norm))
        self._pending.append(_Pending(where, loss.detach(), terms, bad))
        if not getattr(optimizer, "_step_supports_amp_scaling", False):
            self.check()  # an optimizer that cannot skip a step on the device's word: read it now
            optimizer.step()
            return
        optimizer.found_inf = bad.float()  # type: ignore[attr-defined]  # fused AdamW skips the update on the device
        try:
            optimizer.step()
        finally:
            del optimizer.found_inf  # type: ignore[attr-defined]

    def _scaled_step(self, loss: torch.Tensor, terms: dict, trainable: list[nn.Parameter],
                     optimizer: torch.optim.Optimizer, max_grad_norm: float, where: str) -> None:
        assert self.scaler is not None
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        norm = nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        self.scaler.step(optimizer)  # skipped when a gradient is inf/NaN
        self.scaler.update()
        self._pending.append(_Pending(where, loss.detach(), terms, ~torch.isfinite(norm)))

    def _due(self) -> bool:
        """Whether to read the flags now: at the first step, every CHECK_EVERY steps, and under fp16
        as soon as the pending steps could complete MAX_SKIPPED_STEPS in a row (so the error comes
        at the step it would with a read every step)."""
        if not self._read:
            return True
        limit = CHECK_EVERY if self.scaler is None else min(CHECK_EVERY, MAX_SKIPPED_STEPS - self._skipped_run)
        return len(self._pending) >= limit

    def check(self) -> None:
        """Read the flags of the steps since the last read (one host sync) and stop on what they
        show: a non-finite loss or gradients (fp32, tf32, bf16), MAX_SKIPPED_STEPS skipped steps in a
        row (fp16). Meant for the end of every epoch too; :meth:`state_dict` calls it before a checkpoint."""
        pending, self._pending, self._read = self._pending, [], True
        if not pending:
            return
        flags = torch.stack([p.bad.to(pending[0].bad.device) for p in pending]).tolist()
        for step, bad in zip(pending, flags):
            if self.scaler is None and bad:
                raise NonFiniteLossError(_non_finite(step))
            self._skipped_run = self._skipped_run + 1 if bad else 0
            if self._skipped_run >= MAX_SKIPPED_STEPS:
                assert self.scaler is not None
                raise NonFiniteLossError(f"{step.where}: fp16 gave non-finite losses or gradients for {MAX_SKIPPED_STEPS} "
                                         f"steps in a row (loss {float(step.loss)}, loss scale now "
                                         f"{self.scaler.get_scale():g}; terms: {_terms(step.terms)}): the model "
                                         "overflows float16; use bf16 or fp32")

    @property
    def skipped_in_a_row(self) -> int:
        """fp16: steps skipped in a row so far (reads the device: a host sync)."""
        self.check()
        return self._skipped_run

    def state_dict(self) -> dict | None:
        """The scaler's state, for a checkpoint (the pending steps are read first: no checkpoint
        follows a non-finite step unread)."""
        self.check()
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def _non_finite(step: _Pending) -> str:
    """The error of a skipped non-finite step: which loss, or which gradients, and the fix."""
    loss = float(step.loss)
    what = f"non-finite loss {loss}" if not math.isfinite(loss) else f"non-finite gradients (loss {loss:.4g})"
    return f"{step.where}: {what} (terms: {_terms(step.terms)}). Lower the learning rate or check the loss weights."


def _terms(terms: dict) -> str:
    return ", ".join(f"{k}={float(torch.as_tensor(v).detach()):.4g}" for k, v in terms.items())
