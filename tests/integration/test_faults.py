"""The workflow under faults: killed by SIGTERM or SIGKILL during training, it resumes with
--rerun-incomplete (after --unlock for SIGKILL), does not redo finished jobs, continues the
killed training from its last epoch, and never takes a half-written output for done. The run
targets the killed model's sweep (train, trace, sweep): the rest of the DAG is the smoke test's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, workflow_env

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "1"]
MODEL = "results/faults/models/synthetic-sentiment/bert/default/seed1"
CHECKPOINT = "results/faults/models/synthetic-sentiment/bert/default/.seed1.resume/finetune.pt"
TARGET = "results/faults/sweeps/synthetic-sentiment/bert/default/seed1.csv"  # before --configfile (it takes several)


def small_config(tmp_path: Path) -> Path:
    """BERT on one synthetic task, training long enough to be killed mid-way."""
    config = {
        "profile": "faults", "backbone": "tiny", "tasks": ["synthetic-sentiment"], "seeds": [1],
        "data": {"source": "synthetic", "max_train_examples": {"default": 400}},
        "train": {"epochs": 40, "batch_size": 16, "learning_rate": 1.0e-3, "max_seq_len": 32},
        "methods": {"bert": {}},
        "tables": {"table3_tasks": ["synthetic-sentiment"]},
        "figures": {"fig5_variants": [], "fig6_variants": []},
    }
    path = tmp_path / "faults.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(args, cwd, **kwargs):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env=workflow_env(), **kwargs)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_without_redoing_finished_work(how, tmp_path):
    config = small_config(tmp_path)
    process = subprocess.Popen([*SNAKEMAKE, TARGET, "--configfile", str(config)], cwd=tmp_path, start_new_session=True, env=workflow_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (tmp_path / CHECKPOINT).exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be killed"
    # SIGTERM to the process group, as a scheduler's time limit or `kill -TERM -PGID` does (Snakemake
    # marks the running job incomplete); SIGKILL, a crash: Snakemake and its jobs die at once
    os.killpg(process.pid, how)
    process.wait(timeout=120)
    time.sleep(1)
    # the training never wrote a model that could look finished (Snakemake may have created the empty folder)
    assert not (tmp_path / MODEL / "model.safetensors").exists() and not (tmp_path / MODEL / "smartbert.json").exists()
    assert (tmp_path / CHECKPOINT).exists()
    assert (tmp_path / "results/faults/data/synthetic-sentiment.json").exists()

    if how == signal.SIGKILL:
        assert run(["--configfile", str(config), "--unlock"], tmp_path).returncode == 0
    plan = run([TARGET, "--configfile", str(config), "--rerun-incomplete", "-n"], tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "data_summary" not in plan.stdout.split("Job stats:")[-1]  # finished: not redone
    result = run([TARGET, "--configfile", str(config), "--rerun-incomplete"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "logs/faults/train/synthetic-sentiment/bert/default/seed1.log").read_text()
    assert "resuming after epoch" in log  # continued, not restarted
    assert (tmp_path / MODEL / "model.safetensors").exists() and not (tmp_path / CHECKPOINT).exists()
    assert (tmp_path / TARGET).exists()
