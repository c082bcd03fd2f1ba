"""Genuine files of every kind, written once per session by the suite's own writers (on the CPU), for the
damaged-input tests to damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartbert.app.cli import main


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "bert"
    assert main(["-q", "--device", "cpu", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
                 "--max-train-examples", "64", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def trace_file(model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trace") / "trace.npz"
    assert main(["-q", "--device", "cpu", "trace", "--model", str(model_dir), "--task", "synthetic-sentiment", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def written(model_dir, trace_file, tmp_path_factory) -> dict[str, Path]:
    """One genuine file of each kind, written by the suite's own writers."""
    import pandas as pd

    from smartbert.training.choice import choose, write_selection

    out = tmp_path_factory.mktemp("written")
    for args in (["sweep", "--trace", str(trace_file), "--tag", "variant=default", "--out", str(out / "s.csv")],
                 ["oracle", "--trace", str(trace_file), "--tag", "variant=default", "--out", str(out / "o.json")],
                 ["data", "--task", "synthetic-sentiment", "--out", str(out / "d.json")],
                 ["latency", "--task", "synthetic-sentiment", "--models", str(model_dir), "--examples", "4", "--repeats", "1",
                  "--out", str(out / "l.csv")]):
        assert main(["-q", "--device", "cpu", *args]) == 0, args
    grid = {"lam": [0.001, 0.01, 0.04]}
    table = pd.DataFrame({"lam": grid["lam"], "heldout_metric": [61.0, 60.5, 50.0], "best_epoch": [3, 3, 2],
                          "seconds": [10.0, 11.0, 9.0], "mean_layers_run": [6.0, 5.1, 0.0], "collapsed": [False, False, True],
                          "inactive": [True, False, False], "skip_rate_per_layer": [[0.0] * 6, [0.9] + [0.0] * 5, [1.0] * 6]})
    (out / "RTE").mkdir()
    write_selection(choose(table), grid, out / "RTE")
    return {"sweep": out / "s.csv", "latency": out / "l.csv", "selection": out / "RTE" / "selection.csv",
            "data": out / "d.json", "oracle": out / "o.json"}
