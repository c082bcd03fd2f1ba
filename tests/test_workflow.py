"""The Snakemake workflow: every profile plans, lint is clean, the slurm profile dry-runs, bad config
is named, and the smoke profile runs end to end (tables and figures parse, a second run does
nothing, deleting one sweep reruns only what depends on it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import workflow_env
from smartbert.data.tasks import EVALUATES_MODEL_OF

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def snakemake(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=1800, env=workflow_env())
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """rule -> count from Snakemake's 'Job stats' table."""
    stats = output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def expected_models(config: dict, trained: bool = False) -> int:
    """Models (trained=True) or evaluations (traces) the config asks for; MNLI-mm evaluates MNLI's models."""
    keep = (lambda task: task not in EVALUATES_MODEL_OF) if trained else (lambda task: True)
    tasks, seeds = [t for t in config["tasks"] if keep(t)], config.get("seeds", [1])
    count = len(tasks) * len(config["methods"]) * len(seeds)
    for variant in (config.get("variants") or {}).values():
        count += len([t for t in variant.get("tasks") or config["tasks"] if keep(t)]) * len(seeds)
    return count


@pytest.mark.parametrize("profile", ["config.yaml", "paper.yaml", "smoke.yaml"])
def test_dry_run_plans_every_model(profile, tmp_path):
    config = yaml.safe_load((REPO / "config" / profile).read_text())
    jobs = planned_jobs(snakemake("-n", "--configfile", str(REPO / "config" / profile), cwd=tmp_path).stdout)
    tasks, seeds = len(config["tasks"]), len(config.get("seeds", [1]))
    assert jobs["train"] == expected_models(config, trained=True)
    assert jobs["trace"] == jobs["sweep"] == expected_models(config)
    assert jobs["sweep_skip_only"] == tasks * seeds
    assert jobs["data_summary"] == tasks
    trained_tasks = len([t for t in config["tasks"] if t not in EVALUATES_MODEL_OF])
    assert jobs.get("select", 0) == (trained_tasks if config.get("selection", {}).get("grid") else 0)
    assert jobs["figure"] == 3 and jobs["tables"] == jobs["table2"] == jobs["report"] == 1
    timed = config.get("latency", {}).get("examples", 100) > 0
    assert jobs.get("latency", 0) == (tasks if timed else 0) and jobs.get("figure_latency", 0) == int(timed)


def test_lint_is_clean(tmp_path):
    result = snakemake("--lint", "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_slurm_profile_dry_runs(tmp_path):
    result = snakemake("-n", "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--jobs", "8",
                       "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=tmp_path)
    assert planned_jobs(result.stdout)["train"] == expected_models(yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))


@pytest.mark.parametrize("change, message", [
    ({"unknown_key": 1}, "unknown_key"),
    ({"methods": {"bert": {}, "bertt": {}}}, "bertt"),
    ({"methods": {"smartbert": {"config": {"lamda": 0.1}}}}, "lamda"),
    ({"tasks": ["RTEE"]}, "RTEE"),
    ({"thresholds": {"table": [-0.1]}}, "-0.1"),
    ({"variants": {"soft": {"method": "smartbert", "tasks": ["QQP"]}}}, "QQP"),
])
def test_bad_config_is_named_before_any_job(change, message, tmp_path):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(path), cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke profile, end to end, once for this module."""
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake("--configfile", str(REPO / "config" / "smoke.yaml"), "--cores", "2", "--resources", "gpu=2",
              "--set-threads", "train=1", "trace=1", "select=1", cwd=workdir)
    return workdir


def test_smoke_tables_figures_and_report_exist_and_parse(smoke_run):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    table1 = pd.read_csv(smoke_run / "results/tables/table1.csv")
    assert set(table1["task"]) == set(config["tasks"])
    assert "majority class" in set(table1["row"])
    assert {"BERT", "SmartBERT (S=0.1)", "DeeBERT (S=0.5)", "FastBERT (S=0.3)", "PABEE (patience=3)"} <= set(table1["row"])
    assert (table1.loc[table1["row"] != "majority class", "n_seeds"] == len(config["seeds"])).all()
    for name in ("table1", "table2", "table3", "paper_vs_repro"):
        assert (smoke_run / f"results/tables/{name}.md").read_text().count("|") > 10
        assert r"\begin{tabular}" in (smoke_run / f"results/tables/{name}.tex").read_text()
    measured = table1[table1["row"] != "majority class"]
    assert measured["ms_per_example"].gt(0).all(), "every Table 1 row has its batch-1 latency"
    assert "synthetic-nli ms |" in (smoke_run / "results/tables/table1.md").read_text().splitlines()[2]
    latency = pd.read_csv(smoke_run / "results/latency/synthetic-nli.csv")
    assert latency.loc[latency["method"] == "bert", "measured_speedup"].tolist() == [1.0]
    for name in ("fig4_tradeoff", "fig4_latency", "fig5_contrast", "fig6_gate_training"):
        assert (smoke_run / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (smoke_run / f"figures/{name}.pdf").read_bytes()[:4] == b"%PDF"
    text = (smoke_run / "results/REPORT.md").read_text()
    assert "## Claims" in text and "Degenerate results" in text and "Wall time per rule" in text
    assert "| synthetic-nli | SmartBERT (S=0.3) |" in text.split("## FLOPs savings in wall-clock time")[1]


def test_smoke_html_report_has_every_table_and_figure(smoke_run):
    snakemake("--configfile", str(REPO / "config" / "smoke.yaml"), "--cores", "1", "--report", "report.html", cwd=smoke_run)
    html = (smoke_run / "report.html").read_text(errors="replace")
    for name in ("table1.md", "table2.md", "table3.md", "paper_vs_repro.md", "fig4_tradeoff.png", "fig4_latency.png", "fig5_contrast.png",
                 "fig6_gate_training.png", "REPORT.md"):
        assert name in html, name


def test_smoke_second_run_does_nothing(smoke_run):
    result = snakemake("-n", "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=smoke_run)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_deleting_one_sweep_reruns_only_what_depends_on_it(smoke_run):
    """Snakemake (since 7.7) does not regenerate a deleted intermediate file on its own while the
    files made from it exist; naming it as a target beside `all` (README) reruns it and exactly
    what depends on it."""
    name = "results/sweeps/synthetic-nli/fastbert/default/seed1.csv"
    (smoke_run / name).unlink()
    result = snakemake("all", name, "-n", "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=smoke_run)
    assert planned_jobs(result.stdout) == {"sweep": 1, "tables": 1, "figure": 1, "figure_latency": 1, "report": 1, "all": 1}
