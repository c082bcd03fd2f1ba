"""Catch, on a CPU-only machine, the tensors that would be on the wrong device on a GPU.

On the CPU every tensor lives on one device, so a ``torch.arange(...)`` without ``device=``, a
batch never moved to the model's device, teacher logits wrapped by ``torch.from_numpy`` and used
as they are, or ``.numpy()`` on a model output without ``.cpu()`` all pass unnoticed, and crash
(or silently copy every step) on a GPU. :class:`HostTensorGuard` is a torch function mode that
marks every tensor *our code* (``smartbert/``, ``baselines/``) creates without an explicit device
as a host tensor, keeps the mark through ops on host tensors only, clears it when the tensor is
moved with ``.to(device)``, and fails the moment a host tensor meets a tensor that lives with the
model (a parameter, an activation) in one op, or a model-side tensor reaches NumPy without
``.cpu()``. Tensors created inside torch or transformers (module parameters, their own buffers)
are the model's: ``model.to(device)`` places them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

ROOT = Path(__file__).resolve().parents[1]
OURS = (str(ROOT / "smartbert"), str(ROOT / "baselines"))
FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.arange, torch.tensor, torch.as_tensor, torch.eye,
             torch.rand, torch.randn, torch.randint, torch.randperm, torch.linspace}
PLACING = {torch.Tensor.to, torch.Tensor.cuda}
TO_HOST = {torch.Tensor.cpu}
TO_NUMPY = {torch.Tensor.numpy, torch.Tensor.__array__}


class DeviceMismatch(AssertionError):
    pass


def _call_site() -> str:
    """File of the first frame outside torch's dispatch and this module: who called the op."""
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename == __file__ or "torch/overrides.py" in frame.f_code.co_filename):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


def _where(roots: tuple[str, ...]) -> str:
    """file:line of the innermost frame of ours on the stack (where the mistake is)."""
    frame = sys._getframe(2)
    while frame is not None and not frame.f_code.co_filename.startswith(roots):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"


class HostTensorGuard(TorchFunctionMode):
    def __init__(self, roots: tuple[str, ...] = OURS) -> None:
        super().__init__()
        self.roots = roots
        self.host = WeakIdKeyDictionary()
        self.checked_ops = 0

    def __enter__(self):
        # torch.from_numpy never reaches a torch function mode (no tensor argument, not overridable):
        # wrap it while the guard is on
        self._from_numpy = torch.from_numpy

        def from_numpy(array):
            out = self._from_numpy(array)
            if sys._getframe(1).f_code.co_filename.startswith(self.roots):
                self.host[out] = True
            return out

        torch.from_numpy = from_numpy
        return super().__enter__()

    def __exit__(self, *exc):
        torch.from_numpy = self._from_numpy
        return super().__exit__(*exc)

    def _is_host(self, tensor: torch.Tensor) -> bool:
        return tensor in self.host

    def _mark(self, value) -> None:
        for leaf in tree_flatten(value)[0]:
            if isinstance(leaf, torch.Tensor):
                self.host[leaf] = True

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES:
            out = func(*args, **kwargs)
            if "device" not in kwargs and _call_site().startswith(self.roots):
                self._mark(out)
            return out
        if func in PLACING and _targets_a_device(func, args, kwargs):
            out = func(*args, **kwargs)
            self.host.pop(out, None)  # placed (on the CPU, .to(cpu) may return the tensor itself)
            return out
        if func in TO_HOST:
            out = func(*args, **kwargs)
            out = out.clone() if out is args[0] else out  # a host copy, as on a GPU
            self._mark(out)
            return out
        if func in TO_NUMPY and not self._is_host(args[0]):
            raise DeviceMismatch(f"{_where(self.roots)}: .numpy() of a tensor on the model's device: call .cpu() first")
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        host = [t for t in tensors if self._is_host(t) and t.dim() > 0]  # 0-dim CPU tensors mix with CUDA ones
        placed = [t for t in tensors if not self._is_host(t)]
        self.checked_ops += 1
        if host and placed:
            raise DeviceMismatch(f"{_where(self.roots)}: {getattr(func, '__name__', func)} mixes a tensor created on the host "
                                 f"without device= (shape {tuple(host[0].shape)}) with one on the model's device "
                                 f"(shape {tuple(placed[0].shape)}): create it with device=, or move it with .to(device)")
        out = func(*args, **kwargs)
        if tensors and not placed:
            self._mark(out)
        return out


def _targets_a_device(func, args, kwargs) -> bool:
    if func is torch.Tensor.cuda or "device" in kwargs:
        return True
    return any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])
