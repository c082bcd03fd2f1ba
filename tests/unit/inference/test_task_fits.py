"""Which task a saved model may be traced on (``inference.tracing.check_task_fits``): by default its
own; another only with the same labels (an MNLI model on MNLI-mm); otherwise a one-line error
naming both label sets, before any data is read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from smartbert.core.errors import CheckpointError
from smartbert.data.tasks import get_task
from smartbert.inference.tracing import check_task_fits


def saved(task: str) -> SimpleNamespace:
    """What check_task_fits reads of a loaded model: the task it was trained on and its labels."""
    return SimpleNamespace(meta=SimpleNamespace(task=task, labels=list(get_task(task).labels)))


def test_a_model_is_traced_on_its_own_task_by_default() -> None:
    assert check_task_fits(saved("SST-2"), None).name == "SST-2"  # type: ignore[arg-type]


def test_an_mnli_model_is_traced_on_mnli_mm() -> None:
    spec = check_task_fits(saved("MNLI"), "MNLI-mm")  # type: ignore[arg-type]
    assert spec.name == "MNLI-mm" and list(spec.labels) == list(get_task("MNLI").labels)


@pytest.mark.parametrize("trained_on, task", [("SST-2", "MNLI"), ("MNLI", "RTE"), ("synthetic-sentiment", "synthetic-nli")])
def test_other_labels_are_refused_naming_both(trained_on: str, task: str) -> None:
    with pytest.raises(CheckpointError, match=rf"trained on {trained_on} with labels .*; {task} has labels .*same labels"):
        check_task_fits(saved(trained_on), task)  # type: ignore[arg-type]
