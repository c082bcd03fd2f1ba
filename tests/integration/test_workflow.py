"""The Snakemake workflow: every profile plans, with exactly its own parameters, under its own roots;
GPU jobs get a GPU and a few threads where GPUs are, every core and no GPU where there are none; the
slurm profile submits only the GPU rules, with a GPU, runtime and memory from their work; the conda env
installs this checkout wherever it lives; lint is clean; bad config is named; and the smoke profile
runs end to end (tables and figures parse, a second run does nothing, deleting one sweep reruns only
what depends on it)."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from smartbert.data.tasks import EVALUATES_MODEL_OF
from tests.helpers import REPO, workflow_env

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
PROFILES = {"config.yaml": "quick", "paper.yaml": "paper-run", "smoke.yaml": "smoke", "cpu-full.yaml": "cpu-full"}
GPU_RULES = {"train", "select", "trace", "latency", "latency_calibrated"}
TIMING_RULES = {"latency", "latency_calibrated"}  # every core and every GPU slot: they time alone
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def snakemake(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=1800,
                            env={**workflow_env(), **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """rule -> count from Snakemake's 'Job stats' table."""
    stats = output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


def planned(output: str) -> list[dict]:
    """Every job of a dry run (`-n`; the profiles print shell commands): its rule, fields (input, output,
    log, benchmark, wildcards, threads, resources) and shell command."""
    jobs = []
    for block in re.split(r"^\[[^\]\n]+\]\n", output, flags=re.M)[1:]:
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head:
            continue
        job = {"rule": head.group(1), "threads": 1}
        for key, value in re.findall(r"^    (\w+): (.*)$", block, re.M):
            job[key] = value
        job["threads"] = int(job["threads"])
        job["resources"] = dict(item.split("=", 1) for item in job.get("resources", "").split(", ") if "=" in item)
        job["wildcards"] = dict(item.split("=", 1) for item in job.get("wildcards", "").split(", ") if "=" in item)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        job["shell"] = shell.group(1) if shell and shell.group(1) != "None" else ""
        jobs.append(job)
    return jobs


def option(shell: str, name: str) -> str:
    """The value of `--name VALUE` in a shell command."""
    words = shlex.split(shell)
    return words[words.index(name) + 1]


def expected_models(config: dict, trained: bool = False) -> int:
    """Models (trained=True) or evaluations (traces) the config asks for; MNLI-mm evaluates MNLI's models."""
    keep = (lambda task: task not in EVALUATES_MODEL_OF) if trained else (lambda task: True)
    tasks, seeds = [t for t in config["tasks"] if keep(t)], config.get("seeds", [1])
    count = len(tasks) * len(config["methods"]) * len(seeds)
    for variant in (config.get("variants") or {}).values():
        count += len([t for t in variant.get("tasks") or config["tasks"] if keep(t)]) * len(variant.get("seeds") or seeds)
    return count


@pytest.mark.parametrize("profile", list(PROFILES))
def test_dry_run_plans_every_model(profile, tmp_path):
    config = yaml.safe_load((REPO / "config" / profile).read_text())
    jobs = planned_jobs(snakemake("-n", "--configfile", str(REPO / "config" / profile), cwd=tmp_path).stdout)
    tasks, seeds = len(config["tasks"]), len(config.get("seeds", [1]))
    assert jobs["train"] == expected_models(config, trained=True)
    assert jobs["trace"] == jobs["sweep"] == expected_models(config)
    assert jobs["sweep_skip_only"] == tasks * seeds
    assert jobs["data_summary"] == tasks
    trained_tasks = len([t for t in config["tasks"] if t not in EVALUATES_MODEL_OF])
    points = math.prod(len(values) for values in (config.get("selection", {}).get("grid") or {}).values()) if \
        config.get("selection", {}).get("grid") else 0
    assert jobs.get("select", 0) == trained_tasks * points  # one select job per grid point
    assert jobs.get("choose", 0) == (trained_tasks if points else 0)  # and one gathering job per task
    assert jobs["figure"] == 3 and jobs["tables"] == jobs["table2"] == jobs["report"] == 1
    timed = config.get("latency", {}).get("examples", 100) > 0
    assert jobs.get("latency", 0) == (tasks if timed else 0) and jobs.get("figure_latency", 0) == int(timed)


@pytest.mark.parametrize("profile", ["smoke.yaml", "cpu-full.yaml"])  # cpu-full: with the external paper rule included
def test_lint_is_clean(profile, tmp_path):
    result = snakemake("--lint", "--configfile", str(REPO / "config" / profile), cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


# Representative merged parameters of each profile: its own values and the schema's defaults, nothing
# from another profile (Snakemake merges --configfile into a Snakefile's `configfile:` key by key: the
# paper profile once trained SST-2 on the quick profile's 1,500 examples).
EXACT = {
    "paper.yaml": dict(backbone={"distilbert": "distilbert-base-uncased", None: "bert-base-uncased"}, epochs=5,
                       learning_rate=2.0e-5, batch_size=32, max_train_examples={None: None}, latency_examples=100),
    "config.yaml": dict(backbone={None: "minilm-l6"}, epochs=3, learning_rate=5.0e-5, batch_size=16,
                        max_train_examples={"SST-2": 1500, "CoLA": 1500, "MRPC": 1500, None: 600}, latency_examples=50),
    "smoke.yaml": dict(backbone={None: "tiny"}, epochs=2, learning_rate=1.0e-3, batch_size=16,
                       max_train_examples={None: 400}, latency_examples=20),
    "cpu-full.yaml": dict(backbone={None: "minilm-l6"}, epochs=4, learning_rate=3.0e-5, batch_size=16,
                          max_train_examples={"SST-2": 16000, None: None}, latency_examples=50),
}


def test_one_task_at_a_time_runs_that_tasks_models_only(tmp_path):
    """`--config tasks=[RTE]` (the cpu-full profile's sittings): RTE's models, selection and latency,
    none of the SST-2 ablations, which the next sitting (or the full command) adds."""
    config = yaml.safe_load((REPO / "config" / "cpu-full.yaml").read_text())
    jobs = planned(snakemake("-n", "--configfile", str(REPO / "config" / "cpu-full.yaml"), "--config", "tasks=[RTE]",
                             cwd=tmp_path).stdout)
    trained = [job for job in jobs if job["rule"] == "train"]
    assert {job["wildcards"]["task"] for job in trained} == {"RTE"}
    defaults = [job for job in trained if job["wildcards"]["variant"] == "default"]
    assert sorted(job["wildcards"]["method"] for job in defaults) == sorted(config["methods"])
    on_every_task = {name for name, variant in config["variants"].items() if not variant.get("tasks")}
    assert on_every_task == {"gatesrun"}  # the gate-initialisation variant runs in every sitting
    assert {job["wildcards"]["variant"] for job in trained} == {"default"} | on_every_task
    rules = [job["rule"] for job in jobs]
    assert rules.count("choose") == rules.count("latency") == 1 and rules.count("select") == len(config["selection"]["grid"]["lam"])
    # Figures 5 and 6 draw SST-2's ablations: left to the sitting that runs SST-2, not drawn empty
    assert [job["wildcards"]["figure"] for job in jobs if job["rule"] == "figure"] == ["fig4_tradeoff"]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_a_profile_runs_exactly_its_own_parameters(profile, tmp_path):
    args = ["-n"] if profile == "config.yaml" else ["-n", "--configfile", str(REPO / "config" / profile)]  # quick: the default
    jobs = planned(snakemake(*args, cwd=tmp_path).stdout)
    want = EXACT[profile]
    trainings = [job for job in jobs if job["rule"] in ("train", "select")]
    assert len(trainings) > 10
    for job in trainings:
        task, method = job["wildcards"]["task"], job["wildcards"].get("method")
        train = json.loads(option(job["shell"], "--config"))["train"]
        budget = want["max_train_examples"]
        assert train["max_train_examples"] == budget.get(task, budget[None]), (job["rule"], task, method)
        assert (train["epochs"], train["learning_rate"], train["batch_size"]) == (want["epochs"], want["learning_rate"], want["batch_size"])
        assert option(job["shell"], "--backbone") == want["backbone"].get(method, want["backbone"][None])
    for job in jobs:
        if job["rule"] == "latency":
            assert int(option(job["shell"], "--examples")) == want["latency_examples"]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_a_profile_writes_only_under_its_own_roots(profile, tmp_path):
    name = PROFILES[profile]
    jobs = planned(snakemake("-n", "--configfile", str(REPO / "config" / profile), cwd=tmp_path).stdout)
    roots = (f"results/{name}/", f"figures/{name}/", f"logs/{name}/")
    paths = [path for job in jobs for key in ("output", "log", "benchmark") for path in job.get(key, "").split(", ") if path]
    assert len(paths) > 100 and {job["rule"] for job in jobs} >= {"train", "sweep", "tables", "figure", "report"}
    assert [path for path in paths if not path.startswith(roots)] == []
    inputs = [path for job in jobs for path in job.get("input", "").split(", ") if path]
    # reads only its own files and the paper's transcribed tables
    assert [path for path in inputs if not path.startswith(roots) and not path.startswith(str(REPO / "results" / "paper"))] == []


# The policy over every case: tests/unit/app/test_plan.py; here, that the Snakefile applies it.
@pytest.mark.parametrize("gpus, cores, slots", [(0, 2, 1), (4, 16, 1)])
def test_gpu_jobs_get_a_gpu_each_and_a_few_threads_where_gpus_are(gpus, cores, slots, tmp_path):
    """--resources gpu=N runs N GPU jobs at once (each asks for one GPU) with threads left for the CPU
    jobs beside them; with no GPU, GPU jobs ask for none (the gpu resource holds nothing back) and
    take half the cores each. Latency takes every core (and every GPU slot): it times alone."""
    env = {"SMARTBERT_GPUS": str(gpus)} if gpus else {"SMARTBERT_DEVICE": "cpu"}
    result = snakemake("-n", "--configfile", str(REPO / "config" / "smoke.yaml"), "--cores", str(cores),
                       "--resources", f"gpu={slots}", cwd=tmp_path, env=env)
    jobs = planned(result.stdout)
    assert {job["rule"] for job in jobs} >= GPU_RULES | {"sweep", "tables", "figure"}
    for job in jobs:
        gpu = int(job["resources"].get("gpu", 0))
        if job["rule"] in TIMING_RULES:  # times alone: every core, every GPU slot
            assert gpu == (min(slots, gpus) if gpus else 0) and job["threads"] == cores, job
            assert f"--threads {cores} " in job["shell"]
        elif job["rule"] in GPU_RULES and gpus:
            assert gpu == 1, job
            assert job["threads"] == max(1, min(4, cores // (min(slots, gpus) + 1))), job
            assert min(slots, gpus) * job["threads"] < cores or job["threads"] == 1  # cores left beside them
            assert f"--threads {job['threads']} " in job["shell"]
        elif job["rule"] in GPU_RULES:  # two at once, half the cores each: never more threads than cores
            assert gpu == 0 and job["threads"] == max(1, cores // 2), job
            assert f"--threads {job['threads']} " in job["shell"]
        else:
            assert gpu == 0 and job["threads"] == 1, job
    if gpus and slots < gpus:
        assert f"pass --resources gpu={gpus}" in result.stderr


def test_a_gpu_pinned_for_several_gpu_jobs_at_once_is_refused(tmp_path):
    """SMARTBERT_DEVICE=cuda:0 with --resources gpu=4 would put four jobs on one GPU: one line naming the fix."""
    env = {"SMARTBERT_GPUS": "4", "SMARTBERT_DEVICE": "cuda:0"}
    args = ("-n", "--configfile", str(REPO / "config" / "smoke.yaml"), "--cores", "16")
    result = snakemake(*args, "--resources", "gpu=4", cwd=tmp_path, env=env, check=False)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "SMARTBERT_DEVICE=cuda:0 puts every GPU job on one GPU" in said, said
    assert "pass --resources gpu=1" in said and "Traceback" not in said
    snakemake(*args, "--resources", "gpu=1", cwd=tmp_path, env=env)


def submit_command(job: dict, settings: dict) -> str:
    """The sbatch command snakemake-executor-plugin-slurm builds for a planned job (its own functions)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        def __getattr__(self, name):
            return self[name]

    def value(text):
        return int(text) if re.fullmatch(r"\d+", text) else text

    resources = Resources({key: value(text) for key, text in job["resources"].items() if "<TBD>" not in text})
    params = dict(run_uuid="test", slurm_logfile="slurm.log", comment_str=job["rule"], workdir=None,
                  account="", partition=f"-p {resources['slurm_partition']}" if resources.get("slurm_partition") else "")
    executor = SimpleNamespace(requeue=settings.get("slurm-requeue", False), no_requeue=False, qos=None, reservation=None)
    planned_job = SimpleNamespace(resources=resources, threads=job["threads"])
    return get_submit_command(planned_job, params, executor) + set_gres_string(planned_job)


def test_slurm_profile_submits_only_gpu_rules_with_a_gpu_and_runtime_from_their_work(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    profile = REPO / "workflow" / "profiles" / "slurm"
    # --cores: a dry run caps threads at 1 otherwise (a cluster run has no such cap)
    result = snakemake("-n", "--workflow-profile", str(profile), "--cores", "64",
                       "--configfile", str(REPO / "config" / "paper.yaml"), cwd=tmp_path)
    assert "workflow specific profile" in result.stderr and "profiles/default" not in result.stderr
    jobs = planned(result.stdout)
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    assert settings["retries"] >= 1 and settings["slurm-requeue"] is True
    # the rules Snakemake runs itself instead of submitting (a dry run does not say which)
    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", (REPO / "Snakefile").read_text(), re.M)
    local_rules = set(block.group(1).replace(",", " ").split())
    for path in (REPO / "workflow").rglob("*.smk"):  # and those a rule file declares `localrule: True` (external/)
        local_rules |= set(re.findall(r"^rule (\w+):\n(?:(?:    .*)?\n)*?    localrule: True", path.read_text(), re.M))
    one_per_rule = {job["rule"]: job for job in jobs}
    assert set(one_per_rule) >= GPU_RULES | {"data_summary", "sweep", "sweep_skip_only", "tables", "table2", "figure",
                                               "figure_latency", "report", "all"}
    for rule, job in one_per_rule.items():
        if rule in GPU_RULES:
            assert rule not in local_rules, rule
            command = submit_command(job, settings)
            assert "--gpus=1" in command and "-p gpu" in command and "--requeue" in command, command
            assert re.search(r" -t \d+", command) and re.search(r" --mem \d+", command), command
            assert f"--cpus-per-task={settings['set-threads'][rule]}" in command, command
        else:  # never queued, so never given a GPU
            assert rule in local_rules, f"{rule} would be submitted"
            assert int(job["resources"].get("gpu", 0)) == 0, rule
    # runtime and memory follow the work: WNLI's 635 training examples against MNLI's 392,702
    train = {(job["wildcards"]["task"], job["wildcards"]["method"]): job["resources"] for job in jobs
             if job["rule"] == "train" and job["wildcards"]["variant"] == "default"}
    wnli, mnli = train[("WNLI", "smartbert")], train[("MNLI", "smartbert")]
    assert int(wnli["runtime"]) <= 15 and int(mnli["runtime"]) > 50 * int(wnli["runtime"])
    assert int(mnli["mem_mb"]) > int(wnli["mem_mb"])
    assert int(train[("MNLI", "smartbert")]["runtime"]) > int(train[("MNLI", "bert")]["runtime"])  # 5 + 4 epochs, not 5
    assert int(train[("MNLI", "deebert")]["runtime"]) <= int(train[("MNLI", "bert")]["runtime"])  # stage 1 is BERT's model
    select = [job for job in jobs if job["rule"] == "select" and job["wildcards"]["task"] == "MNLI"]
    assert len(select) == 3 and {job["wildcards"]["point"] for job in select} == {"000-lam=0.01", "001-lam=0.04", "002-lam=0.1"}
    for job in select:  # a GPU job per grid point, each asking for one point's stage 1 (all three in one job hit the cap)
        assert int(job["resources"]["runtime"]) < int(train[("MNLI", "smartbert")]["runtime"]), job
        assert option(job["shell"], "--point") == str(int(job["wildcards"]["point"][:3])), job


@pytest.mark.parametrize("profile", ["config.yaml", "paper.yaml"])
def test_download_target_fetches_every_task_and_backbone_of_the_profile_on_the_login_node(profile, tmp_path):
    result = snakemake("-n", "download", "--configfile", str(REPO / "config" / profile), cwd=tmp_path)
    [job] = planned(result.stdout)
    config = yaml.safe_load((REPO / "config" / profile).read_text())
    words = shlex.split(job["shell"])
    tasks = [words[i + 1] for i, word in enumerate(words) if word == "--task"]
    backbones = [words[i + 1] for i, word in enumerate(words) if word == "--backbone"]
    assert set(tasks) == set(config["tasks"]) and len(tasks) == len(set(tasks))
    named = {(block or {}).get("backbone") or config["backbone"] for block in config["methods"].values()}
    assert set(backbones) == named | ({config["reference_backbone"]} if config.get("reference_backbone") else set())
    assert job["output"] == f"results/{PROFILES[profile]}/download.json"
    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", (REPO / "Snakefile").read_text(), re.M)
    assert "download" in block.group(1).replace(",", " ").split()  # on a cluster: where Snakemake runs, with network


def test_conda_env_installs_this_checkout_with_the_workflow_extras(tmp_path):
    """--sdm conda: the env file installs the repository by an absolute path the workflow sets
    (${SMARTBERT_REPO}, which pip expands), not a path relative to wherever Snakemake copies it, and
    with the extras the figure rules import."""
    env = yaml.safe_load((REPO / "workflow" / "envs" / "smartbert.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert [line for line in pip if "SMARTBERT_REPO" in line] == ["-e ${SMARTBERT_REPO}[workflow]"]
    assert not [line for line in pip if re.search(r"(^|\s)\.\.?(/|\[|$)", line)], pip
    assert "os.environ.update(SMARTBERT_REPO=REPO_DIR)" in (REPO / "workflow" / "rules" / "common.smk").read_text()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-e ${SMARTBERT_REPO}[workflow]\n")
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation", "--quiet",
                    "--report", str(report), "-r", str(requirements)], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "SMARTBERT_REPO": str(REPO)})
    install = json.loads(report.read_text())["install"][0]
    assert install["download_info"]["url"] == REPO.as_uri()
    assert install.get("requested_extras", ["workflow"]) == ["workflow"]  # pip < 23.3 does not report it
    assert "workflow" in install["metadata"]["provides_extra"]
    extras = " ".join(r for r in install["metadata"]["requires_dist"] if 'extra == "workflow"' in r)
    for needed in ("seaborn", "matplotlib", "snakemake"):
        assert needed in extras


def test_a_profile_must_name_itself(tmp_path):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    for change, message in ((lambda c: c.pop("profile"), "'profile' is a required property"),
                            (lambda c: c.update(profile="paper"), "paper")):
        changed = dict(config)
        change(changed)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(changed))
        result = snakemake("-n", "--configfile", str(path), cwd=tmp_path, check=False)
        assert result.returncode != 0 and message in result.stdout + result.stderr
        assert "should not be valid" in result.stdout + result.stderr or "required" in message


# Every check: tests/unit/app/test_plan.py and test_profile.py; here, that the Snakefile runs them first.
@pytest.mark.parametrize("change, message", [
    ({"unknown_key": 1}, "unknown_key"),                                    # the schema
    ({"methods": {"smartbert": {"config": {"lamda": 0.1}}}}, "lamda"),      # the plan's checks
    ({"selection": {"tolerance": float("nan")}}, "config.selection.tolerance must be a finite number"),
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
    table1 = pd.read_csv(smoke_run / "results/smoke/tables/table1.csv")
    assert set(table1["task"]) == set(config["tasks"])
    assert "majority class" in set(table1["row"])
    assert {"BERT", "SmartBERT (S=0.1)", "DeeBERT (S=0.5)", "FastBERT (S=0.3)", "PABEE (patience=3)"} <= set(table1["row"])
    assert (table1.loc[table1["row"] != "majority class", "n_seeds"] == len(config["seeds"])).all()
    for name in ("table1", "table2", "table3", "paper_vs_repro", "curves_auc", "curves_between", "oracle", "heads", "gates",
                 "skip_only_gap"):
        assert (smoke_run / f"results/smoke/tables/{name}.md").read_text().count("|") > 10
        assert r"\begin{tabular}" in (smoke_run / f"results/smoke/tables/{name}.tex").read_text()
    measured = table1[table1["row"] != "majority class"]
    assert measured["ms_per_example"].gt(0).all(), "every Table 1 row has its batch-1 latency"
    assert "synthetic-nli ms |" in (smoke_run / "results/smoke/tables/table1.md").read_text().splitlines()[2]
    latency = pd.read_csv(smoke_run / "results/smoke/latency/synthetic-nli.csv")
    assert latency.loc[latency["method"] == "bert", "measured_speedup"].tolist() == [1.0]
    for name in ("fig4_tradeoff", "fig4_latency", "fig5_contrast", "fig6_gate_training"):
        assert (smoke_run / f"figures/smoke/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (smoke_run / f"figures/smoke/{name}.pdf").read_bytes()[:4] == b"%PDF"
    text = (smoke_run / "results/smoke/REPORT.md").read_text()
    assert "## Claims" in text and "Degenerate results" in text and "Wall time per rule" in text
    assert "| synthetic-nli | SmartBERT (S=0.3) |" in text.split("## FLOPs savings in wall-clock time")[1]
    section = lambda title: text.split(f"\n## {title}\n")[1].split("\n## ")[0]  # noqa: E731
    assert "| task |" in section("Curve-level comparison") and "| task |" in section("Oracle exits")
    assert "chose lam=" in section("Hyper-parameter selection (held-out train, never dev)")
    variants = section("SmartBERT variants")
    assert "### SmartBERT [gatesrun] (gate_init_skip: 0.05)" in variants and "| synthetic-sentiment | " in variants
    assert "### SmartBERT [nocontrast] (eta1: 0.0, eta2: 0.0)" in variants
    assert text.index("## Can this run test the paper?") < text.index("## Run") < text.index("## Claims")
    assert all(f"| {task} | " in section("Can this run test the paper?") for task in config["tasks"])
    assert "| task | model | seed | layer 1 |" in section("Skipping gates") and "skip-only" in section("Skipping gates")
    assert "| reproduced |" in text.split("## Claims")[1].split("###")[0]  # the rules on the paper's own numbers
    oracle = pd.read_csv(smoke_run / "results/smoke/tables/oracle.csv")
    assert len(oracle) == expected_models(config) and oracle["oracle_cost_pct"].gt(0).all()


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
    name = "results/smoke/sweeps/synthetic-nli/fastbert/default/seed1.csv"
    kept, stat = (smoke_run / name).read_bytes(), (smoke_run / name).stat()
    (smoke_run / name).unlink()
    try:
        result = snakemake("all", name, "-n", "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=smoke_run)
        assert planned_jobs(result.stdout) == {"sweep": 1, "tables": 1, "figure": 1, "figure_latency": 1, "report": 1, "all": 1}
    finally:  # the run stays whole for the tests after this one
        (smoke_run / name).write_bytes(kept)
        os.utime(smoke_run / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_tables_figures_and_report_assemble_from_published_outputs_without_models(smoke_run, tmp_path):
    """What a run publishes (sweeps, oracle analyses, data summaries, selection, runtime, latency, calibration;
    not models, and here not traces) is enough to assemble its tables, figures and REPORT.md (cpu-full's last sitting)."""
    for folder in ("sweeps", "oracle", "data", "selection", "runtime", "latency", "calibration"):
        shutil.copytree(smoke_run / "results/smoke" / folder, tmp_path / "results/smoke" / folder,
                        ignore=shutil.ignore_patterns(".*"))
    result = snakemake("-n", "--configfile", str(REPO / "config" / "smoke.yaml"), cwd=tmp_path)
    assert set(planned_jobs(result.stdout)) <= {"tables", "table2", "figure", "figure_latency", "figure_guaranteed", "report", "all"}


def test_a_stale_sweep_stops_the_tables_step_with_one_line_and_no_traceback(smoke_run, tmp_path):
    """A Snakemake script step fails on bad input as the CLI does (smartbert.app.workflow_step): a sweep
    whose rows carry two configurations' hashes is named on one line, with the fix, without a traceback."""
    for folder in ("sweeps", "oracle", "data", "selection", "runtime", "latency", "calibration"):
        shutil.copytree(smoke_run / "results/smoke" / folder, tmp_path / "results/smoke" / folder,
                        ignore=shutil.ignore_patterns(".*"))
    sweep = sorted((tmp_path / "results/smoke/sweeps").rglob("*.csv"))[0]
    frame = pd.read_csv(sweep, dtype=str)
    frame.loc[frame.index[-1], "experiment_hash"] = "0123456789ab"  # one row from another configuration
    frame.to_csv(sweep, index=False)
    result = snakemake("results/smoke/tables/table1.csv", "--configfile", str(REPO / "config" / "smoke.yaml"),
                       cwd=tmp_path, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("smartbert tables: error:")]
    assert len(lines) == 1 and "mixes results of 2 different configurations" in lines[0] and "Rerun the stale" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


MY_RULE = '''
rule external_mine:
    output:
        res("external/mine/{task}.csv"),
    localrule: True
    run:
        import pandas as pd

        from smartbert.reporting.external import write_external_sweep

        write_external_sweep(pd.DataFrame({
            "variant": ["default"] * 2, "method": ["mine"] * 2, "label": ["My method"] * 2, "task": [wildcards.task] * 2,
            "policy": ["entropy"] * 2, "threshold": [0.1, 0.5], "metric": [77.7, 71.1], "avg_flops_paper_M": [9.0, 3.0],
            "cost_pct_paper": [90.0, 30.0], "seed": [1, 1], "experiment_hash": ["mine-v1"] * 2}), output[0])
'''


def test_a_baseline_rule_from_outside_appears_in_table1_figure4_and_the_report(smoke_run, tmp_path):
    """README "A baseline from outside": a rule of the user's own, in a file outside the repository,
    named under `external:`, writes one sweep per task; Table 1, Figure 4 and REPORT.md take it."""
    (tmp_path / "mine.smk").write_text(MY_RULE)
    extra = tmp_path / "external.yaml"
    extra.write_text(yaml.safe_dump({"external": {"mine": {"rules": str(tmp_path / "mine.smk"), "sweep": "external/mine/{task}.csv"}}}))
    figure = smoke_run / "figures/smoke/fig4_tradeoff.png"
    before = figure.stat().st_mtime
    snakemake("--configfile", str(REPO / "config" / "smoke.yaml"), str(extra), "--cores", "2", cwd=smoke_run)
    tasks = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["tasks"]
    table1 = pd.read_csv(smoke_run / "results/smoke/tables/table1.csv")
    mine = table1[table1["method"] == "mine"]
    assert sorted(mine["task"].unique()) == sorted(tasks) and set(mine["metric"]) <= {77.7, 71.1} and len(mine)
    assert "My method (S=0.1)" in (smoke_run / "results/smoke/tables/table1.md").read_text()
    assert "My method (S=0.1)" in (smoke_run / "results/smoke/REPORT.md").read_text()
    assert figure.stat().st_mtime > before  # Figure 4 was drawn again, with the new sweeps among its inputs
    dry = snakemake("-n", "--configfile", str(REPO / "config" / "smoke.yaml"), str(extra), "--forcerun", "figure", cwd=smoke_run)
    fig4 = [job for job in planned(dry.stdout) if job["rule"] == "figure" and "fig4" in job.get("output", "")]
    assert fig4 and "external/mine/" in fig4[0]["input"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_clone_of_the_published_cpu_full_run_retrains_nothing_after_restamp(tmp_path):
    """Git keeps no modification times, so in a fresh clone a data summary can look newer than the
    selection and sweeps made from it. After `make restamp` the cpu-full profile plans only what the
    committed outputs lack (models whose sweep is not committed: none once a run is published) and
    assembles the tables, figures and REPORT again from every per-task output."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    shutil.copy(REPO / "Makefile", clone / "Makefile")  # the working tree's target, as the tests see the rest
    subprocess.run(["make", "-s", "restamp", "RESULTS=results/cpu-full"], cwd=clone, check=True, capture_output=True)
    # every per-task output one time (touched file by file, a trace could come out newer than its oracle)
    per_task = [p for p in (clone / "results/cpu-full").rglob("*") if p.is_file()
                and not {"tables", "external", "data", "selection"} & set(p.relative_to(clone).parts) and p.name != "REPORT.md"]
    assert len(per_task) > 100 and len({p.stat().st_mtime_ns for p in per_task}) == 1
    jobs = planned(snakemake("-n", "--configfile", str(REPO / "config" / "cpu-full.yaml"), cwd=clone).stdout)
    rules = [job["rule"] for job in jobs]
    # calibration from the committed traces is committed too: a clone recalibrates and retimes nothing
    assert not {"select", "choose", "latency", "data_summary", "calibrate", "latency_calibrated"} & set(rules), sorted(set(rules))
    for job in jobs:
        if job["rule"] in ("train", "sweep", "oracle"):  # only what is not committed (traces and oracles stamped alike)
            w = job["wildcards"]
            model = f"{w['task']}/{w['method']}/{w['variant']}/seed{w['seed']}"
            assert not (clone / f"results/cpu-full/sweeps/{model}.csv").exists(), job
            assert job["rule"] != "oracle" or not (clone / f"results/cpu-full/oracle/{model}.json").exists(), job
    assert rules.count("train") == rules.count("sweep")
    assert {"tables", "report", "figure"} <= set(rules)
