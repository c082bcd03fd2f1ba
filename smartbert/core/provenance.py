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
    """``device``: :func:`smartbert.modeling.device.device_info` of the device the work actually ran on
    (None for steps that run no model: tables, figures, the report)."""
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


def describe(info: dict[str, object]) -> str:
    """One line of :func:`device_info` for tables, figures and REPORT.md."""
    if info.get("type") == "cuda":
        text = f"cuda:{info.get('index')} {info.get('name')} (sm {info.get('capability')}, CUDA {info.get('cuda_runtime')}"
        text += f", driver {info['driver']})" if info.get("driver") else ")"
    else:
        text = f"cpu {info.get('name')} x{info.get('threads')} threads"
    return text + (f", {info['precision']}" if info.get("precision") else "")
