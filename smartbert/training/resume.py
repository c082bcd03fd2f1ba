"""Per-epoch training checkpoints: a killed training resumes after its last finished epoch.

After every epoch the stage's full state (weights, optimizer, schedule, best epoch so far, RNG)
is written atomically to ``DIR/<stage>.pt``; a finished stage is marked done. On restart with the
same configuration (``key``: its hash) training continues from there and, since the batch order is
a function of (seed, epoch) and the RNG is restored, ends with the same weights as an uninterrupted
run. A checkpoint of another configuration is ignored (and replaced), never resumed.

A job of several trainings (``smartbert select``: one per grid point) keeps one ``ResumeDir`` per
training and the result of each finished one (:meth:`save_result`), so a
requeued job skips what it finished and resumes the training it was in.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smartbert.core.io import atomic_path, atomic_write_text, folder_beside

log = logging.getLogger("smartbert.training.resume")


#: what a stage's checkpoint holds once the stage finished, and while it runs (smartbert.training.trainer)
FINISHED_STATE = frozenset({"done", "model", "rng", "report"})
RUNNING_STATE = FINISHED_STATE | {"optimizer", "scheduler", "best_state", "step", "epoch"}


@dataclass(frozen=True)
class ResumeDir:
    directory: Path
    key: str

    @classmethod
    def beside(cls, out: str | Path, key: str) -> ResumeDir:
        """The default place for ``out``'s checkpoints: :func:`folder_beside`."""
        return cls(folder_beside(out), key)

    def _path(self, stage: str) -> Path:
        return self.directory / f"{stage}.pt"

    def load(self, stage: str) -> dict[str, Any] | None:
        path = self._path(stage)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a checkpoint we cannot read is not resumed
            log.warning("ignoring unreadable checkpoint %s: %s", path, error)
            return None
        if not isinstance(state, dict) or state.get("key") != self.key:
            log.warning("ignoring checkpoint %s of another configuration", path)
            return None
        missing = sorted((FINISHED_STATE if state.get("done") else RUNNING_STATE) - set(state))
        if missing:
            log.warning("ignoring checkpoint %s, which lacks %s: the stage starts afresh", path, missing)
            return None
        return state

    def save(self, stage: str, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self._path(stage)) as tmp:
            torch.save({**state, "key": self.key, "stage": stage}, tmp)

    def save_result(self, name: str, result: dict[str, Any]) -> None:
        """Record the JSON-able result of a finished piece of work under this configuration's key."""
        atomic_write_text(self.directory / f"{name}.json", json.dumps({"key": self.key, "result": result}))

    def load_result(self, name: str) -> dict[str, Any] | None:
        """The result saved by :meth:`save_result` for this key, or None (absent, unreadable, other key)."""
        path = self.directory / f"{name}.json"
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable result %s: %s", path, error)
            return None
        return saved["result"] if isinstance(saved, dict) and saved.get("key") == self.key else None

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
