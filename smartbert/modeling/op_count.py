"""What a piece of code asks of the device, counted on any device (docs/design.md, "Devices").

Two numbers decide how a GPU run spends its host time:

- ATen operators dispatched: each is at least one kernel launch, a few microseconds of host time
  on a GPU however small the tensor (eager PyTorch at batch 1, or a trainer with many small ops,
  is bound by them);
- host reads: a value the host reads from a device tensor (``item``, ``bool``, ``int``, ``float``,
  ``tolist``, ``cpu``, ``to(cpu)``) or an operator whose output size depends on the data (``nonzero``,
  boolean-mask indexing, ``masked_select``): on a GPU each waits for every queued kernel to finish.

Counted on the CPU, they say what the same code will cost on a GPU, so budgets on them are tests
that run anywhere (tests/unit/modeling/test_device_budgets.py); ``make gpu-check`` counts them on
CUDA too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

#: Tensor methods whose result is a host value read from the tensor's memory (``numpy`` is not one:
#: it only takes tensors already on the host, the ``cpu()`` before it is the read).
HOST_READ_METHODS = frozenset({"item", "__bool__", "__int__", "__float__", "__index__", "tolist", "cpu"})

#: Operators whose output size depends on the values: the host must wait for them on a GPU.
DATA_DEPENDENT_OPS = frozenset({"aten::nonzero", "aten::masked_select", "aten::unique_dim", "aten::_unique2",
                                "aten::repeat_interleave"})

#: Dispatched operators that read a scalar for the host (counted by the Python call that caused them).
_SCALAR_READ = "aten::_local_scalar_dense"


@dataclass
class DeviceWork:
    """Counts of one measured region: ``ops`` per ATen operator name, ``reads`` per kind of host read."""

    ops: Counter = field(default_factory=Counter)
    reads: Counter = field(default_factory=Counter)

    @property
    def aten_ops(self) -> int:
        """Operators dispatched (each a kernel launch, or more, on a GPU)."""
        return sum(count for name, count in self.ops.items() if name != _SCALAR_READ)

    @property
    def host_reads(self) -> int:
        """Reads that make the host wait for the device."""
        return sum(self.reads.values())

    def per(self, n: int) -> dict[str, float]:
        """Both numbers divided by ``n`` (steps, layers, examples)."""
        return {"aten_ops": self.aten_ops / n, "host_reads": self.host_reads / n}


class _HostReads(TorchFunctionMode):
    def __init__(self, work: DeviceWork) -> None:
        super().__init__()
        self.work = work

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in HOST_READ_METHODS or (name == "to" and _to_host(args, kwargs)):
            self.work.reads[name] += 1
        return func(*args, **kwargs)


def _to_host(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """``tensor.to(cpu)`` of a tensor on a device (a move to the CPU of a host tensor reads nothing)."""
    source = getattr(args[0], "device", None) if args else None
    target = kwargs.get("device", args[1] if len(args) > 1 else None)
    return getattr(source, "type", "cpu") != "cpu" and str(target).startswith("cpu")


class _Operators(TorchDispatchMode):
    def __init__(self, work: DeviceWork) -> None:
        super().__init__()
        self.work = work

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        self.work.ops[name] += 1
        if name in DATA_DEPENDENT_OPS or (name in ("aten::index", "aten::index_put_", "aten::index_put")
                                          and _has_bool_index(args)):
            self.work.reads[name.removeprefix("aten::") + ("[bool]" if "index" in name else "")] += 1
        return func(*args, **(kwargs or {}))


def _has_bool_index(args: tuple[Any, ...]) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or ())


@contextmanager
def count_device_work() -> Iterator[DeviceWork]:
    """Count ATen operators and host reads of the code run inside (backward passes included)::

    with count_device_work() as work:
        loss.backward()
    work.aten_ops, work.host_reads
    """
    work = DeviceWork()
    with _HostReads(work), _Operators(work):
        yield work
