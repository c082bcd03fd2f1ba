"""Baselines from outside (smartbert.reporting.external): the worked example, the paper's own SmartBERT rows,
enters the tables as a sweep like any other; an external sweep must follow the schema."""

from __future__ import annotations

import pandas as pd
import pytest

from smartbert.app.catalogue import method_catalogue
from smartbert.core.errors import SmartBertError
from smartbert.reporting import tables
from smartbert.reporting.external import paper_sweep, write_external_sweep
from smartbert.reporting.results import aggregate, load_sweeps
from tests.helpers import PAPER_DIR

METHODS = method_catalogue()

PAPER_TABLE1 = PAPER_DIR / "table1.csv"


@pytest.mark.parametrize("task", ["MRPC", "SST-2", "CoLA", "RTE", "WNLI"])
def test_the_papers_rows_become_a_sweep_with_the_papers_numbers(task: str, tmp_path) -> None:
    paper = pd.read_csv(PAPER_TABLE1)
    rows = paper[(paper["task"] == task) & (paper["method"] == "smartbert")].sort_values("threshold")
    write_external_sweep(paper_sweep(PAPER_TABLE1, task, METHODS["smartbert"]), tmp_path / "s.csv")
    read = load_sweeps([tmp_path / "s.csv"]).sort_values("threshold")
    assert list(read["threshold"]) == list(rows["threshold"]) and list(read["metric"]) == list(rows["metric"])
    assert list(read["cost_pct_paper"]) == list(rows["cost_pct"]) and list(read["avg_flops_paper_M"]) == list(rows["flops_M"])
    assert set(read["method"]) == {"paper"} and set(read["policy"]) == {"entropy"}


def test_the_papers_rows_sit_in_table1_beside_the_runs_own(tmp_path) -> None:
    write_external_sweep(paper_sweep(PAPER_TABLE1, "RTE", METHODS["smartbert"]), tmp_path / "s.csv")
    agg = aggregate(load_sweeps([tmp_path / "s.csv"]))
    tidy = tables.table1(agg, {"RTE": {"main_metric": "accuracy", "majority_class": {"metric": 52.7}}}, {"entropy": [0.1, 0.5]}, methods=METHODS)
    rows = tidy[tidy["method"] == "paper"]
    assert list(rows["row"]) == ["SmartBERT (paper, BERT-base) (S=0.1)", "SmartBERT (paper, BERT-base) (S=0.5)"]


def test_a_task_the_paper_lacks_is_named() -> None:
    with pytest.raises(SmartBertError, match=r"no smartbert row for 'synthetic-nli'.*narrow the external sweep's `tasks:`"):
        paper_sweep(PAPER_TABLE1, "synthetic-nli", METHODS["smartbert"])


def test_an_external_sweep_without_a_label_is_refused(tmp_path) -> None:
    frame = paper_sweep(PAPER_TABLE1, "RTE", METHODS["smartbert"]).drop(columns=["label"])
    with pytest.raises(SmartBertError, match=r"lacks column\(s\) \['label'\]"):
        write_external_sweep(frame, tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()
