"""A damaged resume checkpoint is ignored with a warning and the stage starts afresh."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from smartbert.app.cli import main
from smartbert.data.load import load_split
from smartbert.methods.checkpoint import META_FILE
from smartbert.training.config import TrainConfig

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)

# ---- resume checkpoints: a damaged one is ignored (logged) and the stage starts afresh -------------

@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory) -> Path:
    """A real mid-training checkpoint (after epoch 1 of 2) of a tiny BERT."""
    import torch

    from smartbert.data.encode import encode
    from smartbert.data.tasks import get_task
    from smartbert.methods.registry import get_method
    from smartbert.training.resume import ResumeDir
    from smartbert.training.trainer import train_stage
    from tests.helpers import tiny_bert

    data = encode(load_split("synthetic-sentiment", "train")[:32], backends_tokenizer())
    method = get_method("bert")
    torch.manual_seed(0)
    model = method.build(tiny_bert(0), 2, method.config_class())
    stage = method.stages(method.config_class())[0]
    folder = tmp_path_factory.mktemp("resume")
    config = TrainConfig(batch_size=16, epochs=2, learning_rate=1e-3, seed=1)

    class Stop(Exception):
        pass

    def loss(model, batch, epoch):
        if epoch == 1:
            raise Stop
        return stage.loss(model, batch, epoch)
    import dataclasses

    with pytest.raises(Stop):
        train_stage(model, dataclasses.replace(stage, loss=loss), data, data, get_task("synthetic-sentiment"), config,
                    progress=False, resume=ResumeDir(folder, key="k"))
    assert ResumeDir(folder, key="k").load(stage.name)["epoch"] == 1
    return folder


def backends_tokenizer():
    from smartbert.modeling import backbones

    return backbones.load_tokenizer("tiny")


def _damaged_resume(checkpoint_dir: Path, tmp_path: Path, change) -> object:
    import shutil as _shutil

    from smartbert.training.resume import ResumeDir

    folder = tmp_path / "resume"
    _shutil.copytree(checkpoint_dir, folder)
    (checkpoint,) = folder.glob("*.pt")
    change(checkpoint)
    return ResumeDir(folder, key="k"), checkpoint.stem


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.2, 0.5, 0.8, 0.99])
def test_a_truncated_resume_checkpoint_is_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, fraction: float) -> None:
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path,
                                    lambda p: p.write_bytes(p.read_bytes()[:int(p.stat().st_size * fraction)]))
    assert resume.load(stage) is None and "ignoring unreadable checkpoint" in caplog.text


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_as_a_resume_checkpoint_are_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, seed: int) -> None:
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, lambda p: p.write_bytes(random.Random(seed).randbytes(500)))
    assert resume.load(stage) is None and "ignoring unreadable checkpoint" in caplog.text


@pytest.mark.parametrize("drop", ["model", "rng", "report", "optimizer", "scheduler", "best_state", "step", "epoch"])
def test_a_resume_checkpoint_lacking_a_part_is_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, drop: str) -> None:
    import torch

    def change(path):
        state = torch.load(path, weights_only=True)
        del state[drop]
        torch.save(state, path)
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, change)
    assert resume.load(stage) is None and f"lacks ['{drop}']" in caplog.text


@pytest.mark.parametrize("content", [[1, 2], "text", {"key": "other"}, None])
def test_a_foreign_resume_checkpoint_is_ignored(checkpoint_dir, tmp_path, content) -> None:
    import torch

    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, lambda p: torch.save(content, p))
    assert resume.load(stage) is None


def test_a_training_beside_a_damaged_checkpoint_starts_afresh_and_finishes(tmp_path) -> None:
    out = tmp_path / "m"
    args = ["-q", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
            "--max-train-examples", "32", "--out", str(out)]
    from smartbert.training.resume import folder_beside

    folder = folder_beside(out)
    folder.mkdir(parents=True)
    (folder / "train.pt").write_bytes(b"damaged")
    assert main(args) == 0 and (out / META_FILE).is_file()


