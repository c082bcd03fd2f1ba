"""The device seam (docs/design.md, "Devices"): where ``--device`` becomes a ``torch.device``, and the
few things that depend on it: moving a batch, waiting for the device before reading a clock,
determinism, and what provenance records about the hardware actually used.

Everything else takes its device from the model (:func:`model_device`): a model is placed once,
every tensor it meets is moved to it, and NumPy only ever sees ``.cpu()`` copies.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smartbert.core.errors import SmartBertError

log = logging.getLogger("smartbert.modeling.device")

DEVICE_ENV = "SMARTBERT_DEVICE"            # the workflow's (and the user's) default for --device
DETERMINISTIC_ENV = "SMARTBERT_DETERMINISTIC"
GPU_LOCK_ENV = "SMARTBERT_GPU_LOCK_DIR"    # where processes on one machine claim GPUs (default: gpu_lock_folder())
GPU_LOCK_BASE = "/var/tmp"                 # machine-wide and kept at logout: the default lock folder's parent
CUBLAS_WORKSPACE = ":4096:8"               # cuBLAS' documented setting for deterministic results
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask", "labels", "teacher_logits")

_claimed: list[int] = []  # descriptors of the lock files of the GPUs this process claimed (held until it exits)


def resolve_device(spec: str | None = None) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; None reads
    ``$SMARTBERT_DEVICE`` (default auto). ``auto``/``cuda`` on a machine with several visible GPUs
    claims one that no other smartbert process holds (:func:`claim_gpu`), so parallel jobs of a
    workflow spread over the GPUs. A CUDA device that does not exist is a one-line error."""
    spec = (spec or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        return claim_gpu() if torch.cuda.is_available() else torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise SmartBertError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, but no GPU is visible"
        raise SmartBertError(f"device {spec!r} asked for, but CUDA is not available (torch {torch.__version__}, {build}); "
                             "use --device cpu or --device auto")
    if match.group(1) is None:
        return claim_gpu()
    index, count = int(match.group(1)), torch.cuda.device_count()
    if index >= count:
        raise SmartBertError(f"device {spec!r} asked for, but {count} GPU(s) are visible (cuda:0..cuda:{count - 1}); "
                             "check CUDA_VISIBLE_DEVICES")
    if count > 1:
        _claim_pinned(index)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def claim_gpu() -> torch.device:
    """One visible GPU for this process. With one visible GPU (a SLURM job, or a pinned
    ``CUDA_VISIBLE_DEVICES``) that one. With several, the first that no other process holds an
    exclusive lock on (``gpu-<uuid>.lock`` in :func:`gpu_lock_folder`, held until this process ends):
    ``--resources gpu=N`` lets N jobs run and each gets its own GPU. If all are held, the one with
    the most free memory is shared, with a warning."""
    count = torch.cuda.device_count()
    if count <= 1:
        torch.cuda.set_device(0)
        return torch.device("cuda", 0)
    folder = gpu_lock_folder()
    index = next((i for i in range(count) if _lock(folder, i)), None)
    if index is None:
        index = max(range(count), key=lambda i: torch.cuda.mem_get_info(i)[0])
        log.warning("every visible GPU is claimed by another smartbert process (locks in %s): sharing cuda:%d", folder, index)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _claim_pinned(index: int) -> None:
    """``cuda:N`` asked for by name: take its lock too (``auto`` jobs then go elsewhere), and say so
    when another process already holds it."""
    folder = gpu_lock_folder()
    if not _lock(folder, index):
        log.warning("cuda:%d is already claimed by another smartbert process (locks in %s): both share one GPU; "
                    "--device auto takes a free one", index, folder)


def gpu_lock_folder() -> Path:
    """Where the processes of one user on one machine claim GPUs: ``$SMARTBERT_GPU_LOCK_DIR``, else
    ``/var/tmp/smartbert-gpu-locks-<uid>``. Never under ``$TMPDIR``, which differs per job or
    container (jobs would not see each other's locks); not /dev/shm or ``$XDG_RUNTIME_DIR``, which
    logind may empty when the user logs out while jobs still run."""
    override = os.environ.get(GPU_LOCK_ENV)
    if override:
        folder = Path(override)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    folder = Path(GPU_LOCK_BASE) / f"smartbert-gpu-locks-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise SmartBertError(f"GPU lock folder {folder} is not a folder of this user: set ${GPU_LOCK_ENV} to one")
    return folder


def _lock(folder: Path, index: int) -> bool:
    """Claim GPU ``index`` through its lock file in ``folder`` (held until this process ends);
    False if another process holds it. Read-only, so a folder shared by several users works."""
    import fcntl

    fd = os.open(folder / f"gpu-{_gpu_identity(index)}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _claimed.append(fd)
    return True


def _gpu_identity(index: int) -> str:
    """The GPU's UUID (the same physical GPU has the same lock whatever CUDA_VISIBLE_DEVICES says)."""
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return str(uuid) if uuid else f"index{index}"


def model_device(model: nn.Module) -> torch.device:
    """The device a model lives on (its first parameter's)."""
    return next(model.parameters()).device


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A collated batch with the tensors the model sees on ``device``. ``index`` (dataset rows,
    for NumPy bookkeeping) stays on the host."""
    non_blocking = device.type == "cuda"
    return {key: value.to(device, non_blocking=non_blocking) if key in MODEL_INPUTS else value
            for key, value in batch.items()}


def synchronize(device: torch.device) -> None:
    """Wait until every queued kernel on ``device`` has finished (before and after a timed region:
    CUDA calls return before the GPU is done)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_deterministic(enabled: bool | None = None) -> bool:
    """``torch.use_deterministic_algorithms`` plus cuBLAS's fixed workspace (which must be set before
    CUDA starts, so call this first), cuDNN without autotuning. None reads ``$SMARTBERT_DETERMINISTIC``.
    Same seed, same GPU: same weights, at some cost in speed. Returns whether it is on."""
    if enabled is None:
        enabled = os.environ.get(DETERMINISTIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return enabled


def rng_state(device: torch.device | None = None) -> dict[str, object]:
    """Every random generator a training step draws from: the CPU's and, once CUDA is in use, the
    generator of the GPU this process trains on (``device``, default the current one), with that
    GPU's index and UUID. The other GPUs' generators are not this job's to restore."""
    state: dict[str, object] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        index = _cuda_index(device)
        state["cuda"] = torch.cuda.get_rng_state(index)
        state["cuda_device"] = {"index": index, "uuid": _gpu_identity(index)}
    return state


def set_rng_state(state: dict[str, Any] | torch.Tensor, device: torch.device | None = None) -> None:
    """Restore :func:`rng_state` onto the GPU this process trains on (``device``, default the current
    one), whichever GPU wrote it: the generator continues where the checkpoint left it. Old checkpoints
    (a bare CPU state; every GPU's state by index) still load. A checkpoint written on a GPU and resumed
    where there is none restores the CPU part and says so."""
    if isinstance(state, torch.Tensor):
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    cuda = state.get("cuda")
    if cuda is None:
        return
    if not torch.cuda.is_available():
        log.warning("the checkpoint holds a GPU's RNG state and this machine has none: a resumed training will not "
                    "equal an uninterrupted one")
    elif isinstance(cuda, (list, tuple)):
        _set_rng_state_by_index(list(cuda), device)
    else:
        torch.cuda.set_rng_state(cuda, _cuda_index(device))


def _set_rng_state_by_index(states: list[torch.Tensor], device: torch.device | None) -> None:
    """A checkpoint from before the training GPU was recorded: every visible GPU's state, by index."""
    if len(states) == 1:  # one GPU was visible: that one trained
        torch.cuda.set_rng_state(states[0], _cuda_index(device))
    elif len(states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states)
    else:
        log.warning("the checkpoint holds the RNG state of %d GPU(s), this machine has %d: a resumed training will not "
                    "equal an uninterrupted one", len(states), torch.cuda.device_count())


def _cuda_index(device: torch.device | None) -> int:
    return device.index if device is not None and device.index is not None else torch.cuda.current_device()


def device_info(device: torch.device, precision: str | None = None) -> dict[str, object]:
    """What provenance records of the device actually used: kind, name, compute capability,
    CUDA runtime and driver versions, memory, threads, precision, determinism."""
    info: dict[str, object] = {"type": device.type, "threads": torch.get_num_threads(), "precision": precision,
                               "deterministic": torch.are_deterministic_algorithms_enabled()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(index=index, name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_GB=round(props.total_memory / 1024 ** 3, 1), cuda_runtime=torch.version.cuda,
                    driver=_nvidia_driver(), tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                    visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
    else:
        info.update(name=platform.processor() or platform.machine())
    return info


@functools.lru_cache(maxsize=1)
def _nvidia_driver() -> str | None:
    """The driver version (one nvidia-smi call per process: provenance asks for it at every trace and timing)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return out.splitlines()[0].strip() or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def peak_gpu_memory_mb(device) -> float | None:
    """Peak GPU memory torch allocated on ``device`` in this process, in MB (None off CUDA)."""
    if getattr(device, "type", None) != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 1024 ** 2
