"""`make gpu-check` works before it first meets a GPU: every check runs on the CPU with a tiny model
(--allow-cpu --quick) and writes its JSON; without a GPU the plain call is one line and exit 0."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(tmp_path, capsys) -> None:
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("gpu-check: no CUDA GPU on this machine")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_every_check_runs_and_writes_its_json(tmp_path) -> None:
    out = tmp_path / "gpu-check"
    assert gpu_check.main(["--allow-cpu", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {k for k, v in summary.items() if isinstance(v, dict) and v["ok"]} == {"environment", "tests", "training",
                                                                                "inference", "latency"}
    training = json.loads((out / "training.json").read_text())
    assert {(r["method"], r["precision"]) for r in training["runs"]} == {("bert", "fp32"), ("smartbert", "fp32"),
                                                                         ("bert", "bf16"), ("smartbert", "bf16")}
    assert all(r["stages"][0]["examples_per_s"][0] > 0 for r in training["runs"])
    inference = json.loads((out / "inference.json").read_text())
    assert inference["all_equal"] and {c["method"] for c in inference["cases"]} >= {"bert", "smartbert", "deebert"}
    latency = json.loads((out / "latency.json").read_text())
    assert all(row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] and row["device"].startswith("cpu") for row in latency["batch1"])
    assert [row["batch_size"] for row in latency["batched"]] == [1, 8, 32, 128]
