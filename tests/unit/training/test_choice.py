"""The gathering step of a selection (``smartbert choose``) against the published runs: from the rows of
their committed selection tables, the old single-job path (choose + write in one process) and the new one
(a row file per grid point, then ``choose``) write the committed selection.csv and selected.yaml, byte
for byte."""

from __future__ import annotations

import ast

import pandas as pd
import pytest
import yaml

from smartbert.app import cli
from smartbert.app.plan.experiment import Experiment
from smartbert.training import choice
from smartbert.training.grid import parse_grid
from tests.helpers import REPO

CONFIG = {"quick": "config", "cpu-full": "cpu-full"}  # each published run's profile
PUBLISHED = [(profile, task) for profile in CONFIG for task in ("SST-2", "MRPC", "CoLA", "RTE", "WNLI")]


def _rows(table_path) -> list[dict]:
    """The grid points' rows as `smartbert select --point` writes them, read back from a written table."""
    table = pd.read_csv(table_path).drop(columns=["within_tolerance", "selected", "format_version"])
    rows = [{key: choice.plain(value) for key, value in row.items()} for row in table.to_dict("records")]
    for row in rows:
        if "skip_rate_per_layer" in row:
            row["skip_rate_per_layer"] = ast.literal_eval(row["skip_rate_per_layer"])
    return rows


def _profile(name: str) -> Experiment:
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / f"{CONFIG[name]}.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return Experiment(config, repo_dir=REPO)


@pytest.mark.parametrize(("profile", "task"), PUBLISHED)
def test_one_job_and_one_job_per_point_write_the_published_selection(profile, task, tmp_path):
    published = REPO / "results" / profile / "selection" / task
    plan = _profile(profile)
    grid_args, tolerance = plan.grid_args().split(), plan.config["selection"]["tolerance"]
    grid = parse_grid(grid_args[1::2])
    rows = _rows(published / "selection.csv")

    choice.write_selection(choice.choose(pd.DataFrame(rows), tolerance), grid, tmp_path / "one_job")  # before issue 34
    paths = [str(tmp_path / "points" / f"{name}.json") for name in plan.selection_points()]
    for row, path in zip(rows, paths):
        choice.write_point_row(row, path)
    assert cli.main(["choose", "--rows", *paths, *grid_args, "--tolerance", str(tolerance), "--out", str(tmp_path / "per_point")]) == 0

    for name in ("selection.csv", "selected.yaml"):
        expected = (published / name).read_bytes()
        assert (tmp_path / "one_job" / name).read_bytes() == expected, name
        assert (tmp_path / "per_point" / name).read_bytes() == expected, name


def test_a_damaged_or_missing_row_is_one_line_naming_the_file_and_its_writer(tmp_path, capsys):
    rows = [str(tmp_path / f"{index}.json") for index in range(2)]
    choice.write_point_row({"lam": 0.001, "heldout_metric": 60.0, "mean_layers_run": 5.0, "collapsed": False}, rows[0])
    (tmp_path / "1.json").write_text('{"format_version": 1, "row": {"lam": 0.0')  # cut short
    assert cli.main(["choose", "--rows", *rows, "--grid", "lam=0.001,0.01", "--out", str(tmp_path / "out")]) != 0
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "1.json is not valid JSON" in said[0] and "`smartbert select --point`" in said[0], said
    assert not (tmp_path / "out").exists()
