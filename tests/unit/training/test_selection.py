"""Hyper-parameter selection: grid parsing, a killed selection that resumes per grid point to the
table an uninterrupted run writes, without retraining the points it finished, and one job per grid
point (``select --point``, then ``choose``) that writes what the single job writes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from smartbert.core.errors import SmartBertError
from smartbert.methods.smartbert import SmartBertConfig
from smartbert.training import choice, grid, selection
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
    assert grid.parse_grid(["lam=0.01,0.05", "eta1=0.05"], SmartBertConfig) == {"lam": [0.01, 0.05], "eta1": [0.05]}
    with pytest.raises(SmartBertError, match="not a field of SmartBertConfig"):
        grid.parse_grid(["lambda=0.01"], SmartBertConfig)
    with pytest.raises(SmartBertError, match="has no values"):
        grid.parse_grid(["lam="], SmartBertConfig)


def _table(*points):
    """(lam, held-out metric, mean layers run, collapsed) rows as select_hyperparameters writes them."""
    return pd.DataFrame([{"lam": lam, "heldout_metric": metric, "mean_layers_run": layers, "collapsed": collapsed,
                          "inactive": layers == 6.0} for lam, metric, layers, collapsed in points])


def chosen(table, tolerance=1.0):
    picked = choice.choose(table, tolerance)
    return float(picked.loc[picked["selected"], "lam"].iloc[0])


def test_selection_keeps_the_trade_off_cheapest_within_tolerance_never_collapsed():
    table = _table((0.001, 86.7, 6.0, False), (0.01, 86.0, 5.2, False), (0.04, 85.2, 3.1, False), (0.1, 80.0, 0.4, True))
    assert chosen(table) == 0.01                 # 0.04 is 1.5 below the best: outside 1.0
    assert chosen(table, tolerance=2.0) == 0.04  # cheapest within 2 points
    assert chosen(table, tolerance=0.0) == 0.001  # best metric (it skips nothing: inactive)
    assert chosen(table, tolerance=100.0) == 0.04  # a collapsed point is never chosen, however cheap
    marked = choice.choose(table, 1.0)
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


def test_each_grid_point_alone_gives_the_row_the_whole_selection_gives(tmp_path):
    straight = _select()
    rows = [selection.select_point("synthetic-sentiment", "smartbert", "tiny", GRID, index, CONFIG, progress=False)
            for index in range(2)]
    for index, row in enumerate(rows):
        choice.write_point_row(row, tmp_path / f"{index}.json")
    gathered = choice.gather(choice.read_point_rows([tmp_path / "0.json", tmp_path / "1.json"]), GRID)
    assert gathered.drop(columns=TIMING).equals(straight.drop(columns=TIMING))
    with pytest.raises(SmartBertError, match=r"grid point 2 does not exist: the grid has 2 point\(s\), pass --point 0..1"):
        selection.select_point("synthetic-sentiment", "smartbert", "tiny", GRID, 2, CONFIG, progress=False)
    with pytest.raises(SmartBertError, match="selection row 0 is of grid point {'lam': 0.1, 'eta1': 0.05}"):
        choice.gather(rows[::-1], GRID)
    with pytest.raises(SmartBertError, match=r"1 selection row\(s\) for a grid of 2 point\(s\)"):
        choice.gather(rows[:1], GRID)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "smartbert.app.cli", "-q", "--threads", "1", *args],
                          check=True, capture_output=True, timeout=600, text=True)


SELECT = ["select", "--task", "synthetic-sentiment", "--backbone", "tiny", "--grid", "lam=0.01,0.1",
          "--config", '{"train": {"epochs": 1, "batch_size": 16}}', "--max-train-examples", "80"]


def _chosen_row(out):
    table = pd.read_csv(out / "selection.csv")
    assert table["selected"].sum() == 1
    return table[table["selected"]].iloc[0]


def test_cli_selection_writes_its_files_and_removes_its_checkpoints(tmp_path):
    """One job, then one job per grid point and `choose`: the same selected.yaml, byte for byte, naming
    the row the table marks selected, and the same table but for the timing column."""
    one_job, per_point = tmp_path / "sel", tmp_path / "points" / "sel"
    _cli(*SELECT, "--out", str(one_job))
    selected = yaml.safe_load((one_job / "selected.yaml").read_text())
    assert selected == {"method": {"lam": float(_chosen_row(one_job)["lam"])}}
    assert not (tmp_path / ".sel.resume").exists()

    rows = [str(tmp_path / f"row{index}.json") for index in range(2)]
    for index, row in enumerate(rows):
        _cli(*SELECT, "--out", str(per_point), "--point", str(index), "--row", row)
    assert (tmp_path / "points" / ".sel.resume").is_dir() and not per_point.exists()  # checkpoints kept until `choose`
    _cli("choose", "--rows", *rows, "--grid", "lam=0.01,0.1", "--out", str(per_point))
    assert (per_point / "selected.yaml").read_bytes() == (one_job / "selected.yaml").read_bytes()
    timing = pd.read_csv(one_job / "selection.csv").columns.get_loc("seconds")
    strip = [[cell for i, cell in enumerate(line.split(",")) if i != timing]
             for path in (one_job, per_point) for line in (path / "selection.csv").read_text().splitlines()]
    assert strip[:3] == strip[3:]
    assert not (tmp_path / "points" / ".sel.resume").exists()
