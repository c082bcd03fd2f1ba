"""Importing an official checkout beside our own ``transformers``.

The official SmartBERT code (github HuBoren99/SmartBert) vendors a transformers 2.x under the
package name ``transformers`` and its model under ``models``. Both are imported here under other
names (``official_transformers``, ``official_models``) from the checkout's folders, without running
the vendored package's ``__init__`` (which imports every model and tokenizer of 2019); only the
modules the model needs are loaded. Nothing in the checkout is modified.

Its imports need ``six`` and ``boto3`` (S3 downloads, never used here), and the FLOPs comparison
needs ``thop`` (the official requirements pin 0.1.1.post2209072238); ``--deps DIR`` names a folder
they were installed into with ``pip install --target DIR``; it goes at the end of ``sys.path`` so
our environment's own packages win where both have one.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from types import ModuleType


def add_dependency_folder(folder: str | Path | None) -> None:
    """Append ``folder`` (a ``pip install --target`` folder) to ``sys.path`` once."""
    if folder and str(folder) not in sys.path:
        sys.path.append(str(folder))


def alias_package(alias: str, folder: Path) -> None:
    """Make ``folder`` importable as package ``alias`` without executing its ``__init__``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: is this a checkout of the official code?")
    package = types.ModuleType(alias)
    package.__path__ = [str(folder)]  # type: ignore[attr-defined]
    sys.modules[alias] = package


def import_from(checkout: str | Path, alias: str, subfolder: str, module: str) -> ModuleType:
    """``checkout/subfolder/module.py`` imported as ``alias.module`` (relative imports resolve in ``alias``)."""
    root = Path(checkout).expanduser().resolve()
    if alias not in sys.modules:
        alias_package(alias, root / subfolder)
    return importlib.import_module(f"{alias}.{module}")


def official_smartbert(checkout: str | Path) -> tuple[ModuleType, ModuleType]:
    """(vendored ``modeling_bert``, ``models.SmartBert``) of a SmartBERT checkout."""
    bert = import_from(checkout, "official_transformers", "transformers", "modeling_bert")
    smartbert = import_from(checkout, "official_models", "models", "SmartBert")
    return bert, smartbert


def git_commit(checkout: str | Path) -> str | None:
    """The checkout's commit: from ``.git`` when it is a clone or worktree, else from a
    ``COMMIT`` file the fetch step wrote beside it (``git archive`` keeps no history)."""
    import subprocess

    root = Path(checkout).expanduser()
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        stamp = root / "COMMIT"
        return stamp.read_text().strip() if stamp.is_file() else None
