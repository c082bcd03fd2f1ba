"""Atomic file and directory writes: a killed run never leaves a half-written output that a
workflow engine would take for done (docs/design.md, "Conventions")."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """Where the suite caches derived data (tokenised splits, FLOPs counts): ``$SMARTBERT_CACHE`` or
    ``~/.cache/smartbert``."""
    return Path(os.environ.get("SMARTBERT_CACHE", Path.home() / ".cache" / "smartbert"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    ``path`` may be a file or a directory (write the directory's content into the yielded path).
    On error the temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    shutil.rmtree(tmp)  # only the unique name was wanted; the caller creates file or folder
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():  # a folder cannot be renamed onto another: move the old aside first
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def folder_beside(out: str | Path) -> Path:
    """Where the checkpoints of the job writing ``out`` live: a hidden sibling ``.<name>.resume``."""
    out = Path(out)
    return out.parent / f".{out.name}.resume"
