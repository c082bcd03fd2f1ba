"""`make gpu-check` cannot pass falsely: a pytest run that times out, collects nothing, runs nothing,
fails or crashes, a part that overruns its budget or cannot start, and an enforced threshold that
is missed each give ``ok: false`` in summary.json and a non-zero exit; without a GPU the plain call
is one line and exit 0. (Every part on the CPU through the bundle: test_gpu_bundle.py.)"""

from __future__ import annotations

import json
import shutil
import sys
import time

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


def _tests_part(tmp_path, test_file: str, budget_s: float = 60) -> tuple[int, dict, dict]:
    """gpu-check's tests part alone, its pytest pointed at one file written here: (exit, summary, tests.json)."""
    tests = tmp_path / "selection"
    tests.mkdir()
    (tests / "test_selection.py").write_text(test_file)
    out = tmp_path / "out"
    code = gpu_check.main(["--allow-cpu", "--only", "tests", "--budget-s", str(budget_s), "--out", str(out),
                           "--pytest-args", f"-p no:cacheprovider {tests / 'test_selection.py'}"])
    return code, json.loads((out / "summary.json").read_text()), json.loads((out / "tests.json").read_text())


SLEEPS = "import time\n\ndef test_sleeps():\n    time.sleep(120)\n"
NOTHING = "# no test here\n"
SKIPPED = "import pytest\n\n@pytest.mark.skip(reason='as a GPU test without CUDA')\ndef test_skipped():\n    pass\n"
FAILS = "def test_fails():\n    assert False\n"
CRASHES = "import os, signal\n\ndef test_crashes():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
PASSES = "def test_passes():\n    pass\n"


def test_a_pytest_time_out_fails_the_check(tmp_path) -> None:
    started = time.perf_counter()
    code, summary, tests = _tests_part(tmp_path, SLEEPS, budget_s=8)
    assert time.perf_counter() - started < 30, "the pytest run must be stopped at the tests part's budget"
    assert code == 1 and summary["ok"] is False and summary["not_ok"] == ["tests"]
    assert tests["status"] == "cut" and "pytest timed out" in tests["why"] and tests["ok"] is False


@pytest.mark.parametrize("test_file, why", [
    (NOTHING, "collected no tests (exit 5)"),
    (SKIPPED, "no test ran"),
    (FAILS, "pytest failed (exit 1"),
    (CRASHES, "killed by signal 9"),
], ids=["nothing-collected", "all-skipped", "a-test-fails", "pytest-crashes"])
def test_a_pytest_run_that_does_not_pass_fails_the_check(tmp_path, test_file, why) -> None:
    code, summary, tests = _tests_part(tmp_path, test_file)
    assert code == 1 and summary["ok"] is False
    assert tests["status"] == "failed" and why in tests["why"], tests


def test_a_pytest_run_that_passes_passes_the_check(tmp_path) -> None:
    code, summary, tests = _tests_part(tmp_path, PASSES)
    assert code == 0 and summary["ok"] is True and tests["counts"] == {"passed": 1, "failed": 0, "errors": 0, "skipped": 0}


def test_a_part_that_overruns_its_budget_is_cut_and_fails_the_check(tmp_path, monkeypatch) -> None:
    def hangs(self, part) -> None:
        part.data["measured_before"] = 1
        time.sleep(120)

    monkeypatch.setattr(gpu_check.Check, "part_environment", hangs)
    started = time.perf_counter()
    code = gpu_check.main(["--allow-cpu", "--only", "environment", "--budget-s", "6", "--out", str(tmp_path)])
    assert time.perf_counter() - started < 20
    summary, part = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("summary", "environment"))
    assert code == 1 and summary["ok"] is False
    assert part["status"] == "cut" and part["measured_before"] == 1 and "budget of 6 s" in part["why"]


def test_a_part_with_no_budget_left_is_skipped_and_not_ok(tmp_path) -> None:
    check = gpu_check.Check(gpu_check.parse_args(["--allow-cpu", "--budget-s", "100", "--out", str(tmp_path)]), torch.device("cpu"))
    check.started -= 98  # 2 s of the budget left: less than a part needs to start
    part = check.run_part("environment", 10)
    shutil.rmtree(check.work)
    assert part["status"] == "skipped" and part["ok"] is False and "not started" in part["why"]


@pytest.mark.parametrize("enforce, ok", [(True, False), (False, True)], ids=["on-a-gpu", "on-the-cpu"])
def test_a_missed_threshold_fails_the_check_only_where_enforced(tmp_path, monkeypatch, enforce, ok) -> None:
    def measures(self, part) -> None:
        part.threshold("train_examples_per_s.bert.fp32", 12.5)  # floor 100
        part.threshold("stage1_over_bert_step_time.fp32", 1.1)  # limit 1.3

    monkeypatch.setattr(gpu_check.Check, "part_throughput", measures)
    check = gpu_check.Check(gpu_check.parse_args(["--allow-cpu", "--only", "throughput", "--out", str(tmp_path)]),
                            torch.device("cpu"))
    check.enforce = enforce  # as on a GPU without --quick
    assert check.run() == (0 if ok else 1)
    summary, part = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("summary", "throughput"))
    assert summary["ok"] is ok and part["status"] == ("passed" if ok else "failed")
    assert [(t["measured"], t["threshold"], t["passed"], t["enforced"]) for t in part["thresholds"]] == [
        (12.5, 100, False, enforce), (1.1, 1.3, True, enforce)]
    assert summary["thresholds_missed"] == [{"name": "train_examples_per_s.bert.fp32", "measured": 12.5, "op": ">=",
                                             "threshold": 100, "enforced": enforce}]
    assert ("thresholds_note" in summary) is not enforce and ("thresholds_note" in part) is not enforce


def test_a_python_without_what_the_check_needs_says_so_in_one_line_and_exits_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(gpu_check, "NEEDED", (*gpu_check.NEEDED, "no_such_module_for_gpu_check"))
    assert gpu_check.main(["--allow-cpu", "--only", "environment", "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "lacks no_such_module_for_gpu_check" in out and "make gpu-bundle" in out
    assert json.loads((tmp_path / "summary.json").read_text())["ok"] is False


def test_host_syncs_are_counted_by_kind() -> None:
    x = torch.arange(4.0)
    _, counts = gpu_check.count_host_syncs(lambda: (x.sum().item(), bool(x.any()), x.cpu(), x.tolist(), float(x[0]),
                                                    x * 2, x.to("cpu"), torch.nn.functional.relu(x)))
    # x.to("cpu") of a host tensor is not a read (on the CPU every move to the model's device is one)
    assert counts == {"item": 1, "__bool__": 1, "__float__": 1, "cpu": 1, "tolist": 1, "total": 5}


def test_the_tests_part_finds_every_file_with_a_cuda_variant() -> None:
    files = gpu_check.gpu_test_files()
    assert {"tests/unit/modeling/test_walk.py", "tests/unit/modeling/test_device.py", "tests/unit/methods/test_methods.py",
            "tests/unit/training/test_determinism.py", "tests/integration/test_resume.py"} <= set(files)
    assert "tests/unit/benchmarks/test_gpu_check.py" not in files


def test_part_budgets_share_the_whole_and_fit_eight_minutes() -> None:
    budgets = gpu_check.part_budgets(gpu_check.BUDGET_S, list(gpu_check.PART_SHARES))
    assert sum(budgets.values()) == pytest.approx(gpu_check.BUDGET_S) and gpu_check.BUDGET_S <= 8 * 60 - 30
    assert gpu_check.part_budgets(400, ["tests"]) == {"tests": 400}  # a second try of one part gets the whole budget
