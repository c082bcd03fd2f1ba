"""Where a result came from: commit, package versions, device, seed, config hash."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "datasets", "numpy", "scikit-learn", "fvcore", "smartbert-repro")


def git_commit(directory: Path | None = None) -> str:
    directory = directory or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def provenance(seed: int | None = None, config_hash: str | None = None, device: dict | None = None, **extra) -> dict:
    """``device``: :func:`smartbert.device.device_info` of the device the work actually ran on
    (None for steps that run no model: tables, figures, the report)."""
    from smartbert.device import describe

    return {
        "commit": git_commit(),
        "versions": versions(),
        "device": describe(device) if device else "none (no model ran in this step)",
        "device_info": device,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": seed,
        "config_hash": config_hash,
        **extra,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def peak_gpu_memory_mb(device) -> float | None:
    """Peak GPU memory torch allocated on ``device`` in this process, in MB (None off CUDA)."""
    if getattr(device, "type", None) != "cuda":
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / 1024 ** 2
