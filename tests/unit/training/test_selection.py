"""Hyper-parameter selection: grid parsing, and a killed selection that resumes per grid point to the
table an uninterrupted run writes, without retraining the points it finished."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from smartbert.core.errors import SmartBertError
from smartbert.methods.smartbert import SmartBertConfig
from smartbert.training import selection
from smartbert.training.config import TrainConfig

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


def _table(*points):
    """(lam, held-out metric, mean layers run, collapsed) rows as select_hyperparameters writes them."""
    return pd.DataFrame([{"lam": lam, "heldout_metric": metric, "mean_layers_run": layers, "collapsed": collapsed,
                          "inactive": layers == 6.0} for lam, metric, layers, collapsed in points])


def chosen(table, tolerance=1.0):
    picked = selection.choose(table, tolerance)
    return float(picked.loc[picked["selected"], "lam"].iloc[0])


def test_selection_keeps_the_trade_off_cheapest_within_tolerance_never_collapsed():
    table = _table((0.001, 86.7, 6.0, False), (0.01, 86.0, 5.2, False), (0.04, 85.2, 3.1, False), (0.1, 80.0, 0.4, True))
    assert chosen(table) == 0.01                 # 0.04 is 1.5 below the best: outside 1.0
    assert chosen(table, tolerance=2.0) == 0.04  # cheapest within 2 points
    assert chosen(table, tolerance=0.0) == 0.001  # best metric (it skips nothing: inactive)
    assert chosen(table, tolerance=100.0) == 0.04  # a collapsed point is never chosen, however cheap
    marked = selection.choose(table, 1.0)
    assert marked["within_tolerance"].tolist() == [True, True, False, False]
    everything_collapsed = _table((0.04, 50.0, 0.2, True), (0.1, 50.0, 0.0, True))
    assert chosen(everything_collapsed) == 0.1  # nothing usable: the cheapest at the best metric, flagged collapsed
    equal = _table((0.001, 86.0, 5.0, False), (0.01, 86.5, 5.0, False))
    assert chosen(equal) == 0.01  # same cost: the higher metric


def test_selection_tolerance_must_be_a_non_negative_number():
    with pytest.raises(SmartBertError, match="tolerance must be a number of metric points >= 0"):
        selection.select_hyperparameters("synthetic-sentiment", "smartbert", "tiny", GRID, CONFIG, tolerance=-1)


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
    command = [sys.executable, "-m", "smartbert.app.cli", "-q", "--threads", "1", "select", "--task", "synthetic-sentiment",
               "--backbone", "tiny", "--grid", "lam=0.01,0.1", "--config", '{"train": {"epochs": 1, "batch_size": 16}}',
               "--max-train-examples", "80", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    assert (out / "selection.csv").is_file() and (out / "selected.yaml").is_file()
    assert not (tmp_path / ".sel.resume").exists()
