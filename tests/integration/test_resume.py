"""Kill and resume: a training killed after an epoch continues from its checkpoint and ends with
exactly the weights of an uninterrupted run; a checkpoint of another configuration is not resumed;
a killed `smartbert train` (SIGKILL) resumes and cleans up."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from smartbert.data.tasks import get_task
from smartbert.methods.checkpoint import load_model
from smartbert.methods.registry import Stage, get_method
from smartbert.training.config import TrainConfig
from smartbert.training.resume import ResumeDir
from smartbert.training.trainer import train_stage
from tests.helpers import tiny_bert

TASK = get_task("synthetic-sentiment")
CONFIG = TrainConfig(batch_size=16, epochs=3, learning_rate=1e-3, seed=3)


class Killed(Exception):
    pass


def killed_at(stage: Stage, epoch_to_die: int) -> Stage:
    """The same stage, but the process 'dies' when epoch ``epoch_to_die`` (0-based) starts."""
    def loss(model, batch, epoch):
        if epoch == epoch_to_die:
            raise Killed
        return stage.loss(model, batch, epoch)
    return dataclasses.replace(stage, loss=loss)


def fresh_model(device: torch.device | str = "cpu"):
    method = get_method("bert")
    torch.manual_seed(CONFIG.seed)
    model = method.build(tiny_bert(CONFIG.seed), 2, method.config_class()).to(device)
    return model, method.stages(method.config_class())[0]


def test_resumed_training_equals_uninterrupted(sentiment_dev, tmp_path, device):
    """On the CPU, and on a GPU (its dropout draws from the CUDA generator, which the checkpoint restores)."""
    select = sentiment_dev.subset(range(16))
    model, stage = fresh_model(device)
    straight = train_stage(model, stage, sentiment_dev, select, TASK, CONFIG, progress=False)
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    resume = ResumeDir(tmp_path / "ckpt", key="k1")
    model, stage = fresh_model(device)
    with pytest.raises(Killed):
        train_stage(model, killed_at(stage, 2), sentiment_dev, select, TASK, CONFIG, progress=False, resume=resume)
    assert resume.load(stage.name)["epoch"] == 2

    torch.manual_seed(12345)  # a new process: other RNG state, weights from the backbone again
    if device.type == "cuda":
        torch.cuda.manual_seed_all(12345)
    model, stage = fresh_model(device)
    resumed = train_stage(model, stage, sentiment_dev, select, TASK, CONFIG, progress=False, resume=resume)
    for name, value in model.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert [e["train_loss"] for e in resumed.epochs] == [e["train_loss"] for e in straight.epochs]
    assert resumed.best_epoch == straight.best_epoch


def test_checkpoint_of_another_configuration_is_not_resumed(sentiment_dev, tmp_path):
    model, stage = fresh_model()
    with pytest.raises(Killed):
        train_stage(model, killed_at(stage, 1), sentiment_dev, sentiment_dev, TASK, CONFIG, progress=False,
                    resume=ResumeDir(tmp_path, key="config-a"))
    assert ResumeDir(tmp_path, key="config-b").load(stage.name) is None
    assert ResumeDir(tmp_path, key="config-a").load(stage.name) is not None


def test_finished_stage_is_not_retrained(sentiment_dev, tmp_path):
    resume = ResumeDir(tmp_path, key="k")
    model, stage = fresh_model()
    train_stage(model, stage, sentiment_dev, sentiment_dev, TASK, CONFIG, progress=False, resume=resume)
    model, stage = fresh_model()
    report = train_stage(model, killed_at(stage, 0), sentiment_dev, sentiment_dev, TASK, CONFIG, progress=False, resume=resume)
    assert len(report.epochs) == CONFIG.epochs  # restored, not run (running would raise Killed)


def _train_command(out, epochs):
    return [sys.executable, "-m", "smartbert.app.cli", "-q", "--threads", "1", "train", "--task", "synthetic-sentiment",
            "--method", "bert", "--backbone", "tiny", "--seed", "5", "--epochs", str(epochs), "--batch-size", "16",
            "--learning-rate", "1e-3", "--max-train-examples", "800", "--out", str(out)]


def test_sigkilled_cli_training_resumes_to_the_same_model(tmp_path):
    epochs = 8
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    straight = tmp_path / "straight"
    subprocess.run(_train_command(straight, epochs), check=True, env=env, capture_output=True, timeout=600)

    out = tmp_path / "killed"
    checkpoint = tmp_path / ".killed.resume" / "finetune.pt"
    process = subprocess.Popen(_train_command(out, epochs), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be killed; raise the epochs"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()  # nothing half-written that looks finished

    subprocess.run(_train_command(out, epochs), check=True, env=env, capture_output=True, timeout=600)
    assert not checkpoint.parent.exists()  # checkpoints go once the model is saved
    a, b = load_model(straight).model.state_dict(), load_model(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
