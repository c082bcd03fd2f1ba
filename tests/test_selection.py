"""Hyper-parameter selection: grid parsing, and a killed selection that resumes per grid point to the
table an uninterrupted run writes, without retraining the points it finished."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from smartbert import selection
from smartbert.errors import SmartBertError
from smartbert.methods.smartbert import SmartBertConfig
from smartbert.trainer import TrainConfig

GRID = {"lam": [0.01, 0.1], "eta1": [0.05]}
CONFIG = TrainConfig(batch_size=16, epochs=3, learning_rate=1e-3, seed=4, max_train_examples=160)
TIMING = ["seconds"]  # the only columns a resumed run may differ in


class Killed(Exception):
    pass


def _select(resume=None):
    return selection.select_hyperparameters("synthetic-sentiment", "smartbert", "tiny", GRID, CONFIG,
                                            progress=False, resume=resume)


def test_parse_grid_reads_values_and_names_bad_keys():
    assert selection.parse_grid(["lam=0.01,0.05", "eta1=0.05"], SmartBertConfig) == {"lam": [0.01, 0.05], "eta1": [0.05]}
    with pytest.raises(SmartBertError, match="not a field of SmartBertConfig"):
        selection.parse_grid(["lambda=0.01"], SmartBertConfig)
    with pytest.raises(SmartBertError, match="has no values"):
        selection.parse_grid(["lam="], SmartBertConfig)


def test_killed_selection_resumes_per_grid_point(tmp_path, monkeypatch):
    straight = _select()
    assert straight["selected"].sum() == 1

    real_train_stage = selection.train_stage
    trained = []

    def dies_in_second_point(model, stage, *args, **kwargs):
        trained.append(len(trained))
        if len(trained) == 2:  # the second grid point: the process dies when its epoch 2 starts
            loss = stage.loss
            stage = dataclasses.replace(stage, loss=lambda m, b, epoch: (_ for _ in ()).throw(Killed) if epoch == 2 else loss(m, b, epoch))
        return real_train_stage(model, stage, *args, **kwargs)

    monkeypatch.setattr(selection, "train_stage", dies_in_second_point)
    with pytest.raises(Killed):
        _select(tmp_path / "resume")
    assert len(list((tmp_path / "resume").glob("*/row.json"))) == 1  # the first point finished

    def must_not_retrain_the_first(model, stage, *args, **kwargs):
        trained.append("rerun")
        resume = kwargs["resume"]
        assert resume.load_result("row") is None and resume.load(stage.name)["epoch"] == 2
        return real_train_stage(model, stage, *args, **kwargs)

    monkeypatch.setattr(selection, "train_stage", must_not_retrain_the_first)
    resumed = _select(tmp_path / "resume")
    assert trained.count("rerun") == 1
    assert resumed.drop(columns=TIMING).equals(straight.drop(columns=TIMING))


def test_cli_selection_writes_its_files_and_removes_its_checkpoints(tmp_path):
    out = tmp_path / "sel"
    command = [sys.executable, "-m", "smartbert.cli", "-q", "--threads", "1", "select", "--task", "synthetic-sentiment",
               "--backbone", "tiny", "--grid", "lam=0.01,0.1", "--config", '{"train": {"epochs": 1, "batch_size": 16}}',
               "--max-train-examples", "80", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    assert (out / "selection.csv").is_file() and (out / "selected.yaml").is_file()
    assert not (tmp_path / ".sel.resume").exists()
