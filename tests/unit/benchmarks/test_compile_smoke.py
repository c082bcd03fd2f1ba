"""train.compile computes the step eager computes (issue 32): on one fixed batch, from the same
weights, dropout off, the compiled stage loss gives the same loss terms and gradients, so what the
smoke training shows between compiled and eager runs is drift, not another function."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from compile_smoke import SAME_STEP_TOLERANCE, same_step  # noqa: E402


@pytest.mark.slow
def test_compiled_smartbert_stage1_gives_eagers_loss_and_gradients() -> None:
    [row] = same_step("smartbert", "tiny", stages={"stage1"}, hard_gates=False)  # compiles for real (~30 s)
    assert row["gradients"] > 50 and not row["gradient_missing_when_compiled"]
    assert row["loss_relative_difference"] <= SAME_STEP_TOLERANCE
    assert row["gradient_relative_difference"] <= SAME_STEP_TOLERANCE
    assert row["same_function"]


def test_a_compiled_step_that_differs_is_reported(monkeypatch) -> None:
    def off_by_a_little(loss):  # stands in for a compiler that got the function wrong
        def run(model, batch, epoch):
            total, terms = loss(model, batch, epoch)
            return total * 1.01, terms
        return run

    monkeypatch.setattr(torch, "compile", off_by_a_little)
    [row] = same_step("bert", "tiny")
    assert row["loss_relative_difference"] == pytest.approx(0.01, rel=1e-3)
    assert row["gradient_relative_difference"] == pytest.approx(0.01, rel=1e-2)
    assert not row["same_function"]
