"""The workflow on a real SLURM (issue 29): the one-node cluster of conftest.py (two fake GPUs, no
accounting), the committed slurm profile with only its site settings changed.

- the profile run: GPU rules submitted with --gpus=1 and seeing CUDA_VISIBLE_DEVICES, local rules not
  submitted, every output but timings byte-identical to a local run of the same profile, logs where README says;
- two GPU jobs at once never share a device;
- faults: a training cancelled by SLURM (scancel) and one requeued (preemption) both continue from their
  last finished epoch and end in the undisturbed sweeps; a training over its time limit gets more time on
  attempt 2; the workflow killed (SIGKILL) while its jobs are in the queue and started again redoes nothing
  finished and loses nothing."""

from __future__ import annotations

import filecmp
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.cluster_helpers import (
    PARTITION,
    PROFILE,
    ROOT,
    run_workflow,
    running_job,
    scontrol_job,
    site_profile,
    start_workflow,
    stop,
    submitted,
    wait_for,
)

TASK = "synthetic-sentiment"
MODELS = {"bert": f"{TASK}_bert_default_1", "smartbert": f"{TASK}_smartbert_default_1"}
GPU_RULES_HERE = {"train", "trace"}  # this profile has no selection and no latency job
# the fault runs go as far as the sweeps (train, trace, sweep: what a fault can touch), not the tables
SWEEPS = [f"{ROOT}/sweeps/{TASK}/{m}/{v}/seed1.csv" for m, v in (("bert", "default"), ("smartbert", "default"),
                                                                   ("smartbert", "skiponly"))]
LOCAL_RULES = {"data_summary", "sweep", "sweep_skip_only", "oracle", "calibrate", "tables", "table2", "figure", "figure_guaranteed",
               "report", "all"}


def model_dir(method: str) -> str:
    return f"{ROOT}/models/{TASK}/{method}/default/seed1"


def checkpoints(workdir: Path, method: str) -> list[Path]:
    return sorted((workdir / f"{ROOT}/models/{TASK}/{method}/default/.seed1.resume").glob("*.pt"))


def sweeps(workdir: Path) -> list[str]:
    return sorted(str(p.relative_to(workdir)) for p in (workdir / ROOT / "sweeps").rglob("*.csv"))


def compared_outputs(workdir: Path) -> list[str]:
    """Every output but the timings: runtime/ (seconds, memory) and REPORT.md (its wall-time section)."""
    return sorted(str(p.relative_to(workdir)) for p in (workdir / ROOT).rglob("*")
                  if p.is_file() and "/models/" not in str(p) and "/traces/" not in str(p)
                  and "/runtime/" not in str(p) and p.name != "REPORT.md")


@pytest.fixture(scope="module")
def cluster_run(cluster, local_run_started, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    profile = site_profile(workdir / "site")
    started = time.time()
    result = run_workflow(workdir, "--workflow-profile", str(profile), timeout=420)
    assert result.returncode == 0, result.stdout[-4000:]
    return workdir, result.stdout, submitted(result.stdout), time.time() - started


def test_gpu_rules_are_submitted_with_one_gpu_and_local_rules_are_not(cluster, cluster_run):
    workdir, output, jobs, seconds = cluster_run
    print(f"cluster run: {seconds:.0f} s, {len(jobs)} SLURM jobs")
    assert sorted((job["rule"], job["wildcards"]) for job in jobs) == sorted(
        (rule, wc) for rule in GPU_RULES_HERE for wc in MODELS.values())
    steps = cluster.steps()
    for job in jobs:
        info = scontrol_job(job["jobid"])
        assert info["JobState"] == "COMPLETED" and info["Partition"] == PARTITION, info
        assert info["TresPerJob"] == "gres:gpu:1", info  # sbatch --gpus=1
        assert info["NumCPUs"] == "1" and info["Comment"] == f"rule_{job['rule']}_wildcards_{job['wildcards']}", info
        # the job's own step (the plugin's srun running the rule) saw one of the node's two GPUs
        assert steps[job["jobid"]]["0"]["cuda"] in {"0", "1"}, steps[job["jobid"]]
    # the local rules ran beside Snakemake: they appear in its log as local rules, never as SLURM jobs
    for rule in LOCAL_RULES:
        assert f"localrule {rule}:" in output, rule
    assert "rule train:" in output and "rule trace:" in output  # (not "localrule")


def test_outputs_equal_a_local_run_of_the_same_profile(cluster_run, local_run):
    workdir = cluster_run[0]
    outputs = compared_outputs(local_run)
    assert outputs == compared_outputs(workdir)
    assert sweeps(local_run) == SWEEPS
    assert {"results/cluster/tables/table1.csv", "results/cluster/tables/skip_only_gap.csv"} <= set(outputs)
    different = [name for name in outputs if not filecmp.cmp(local_run / name, workdir / name, shallow=False)]
    assert different == [], different
    assert (workdir / ROOT / "REPORT.md").exists() and (workdir / "figures/cluster/fig4_tradeoff.png").exists()


def test_logs_are_where_readme_says(cluster_run):
    """Each rule's log under logs/<profile>/ (a GPU rule's log written on the node); the plugin's SLURM
    logs under .snakemake/slurm_logs/rule_<rule>/<wildcards>/<jobid>.log, removed once a job succeeded."""
    workdir, _, jobs, _ = cluster_run
    for method in MODELS:
        assert "done" in (workdir / f"logs/cluster/train/{TASK}/{method}/default/seed1.log").read_text()
        assert (workdir / f"logs/cluster/trace/{TASK}/{method}/default/seed1.log").exists()
    assert (workdir / f"logs/cluster/sweep/{TASK}/bert/default/seed1.log").exists()
    assert (workdir / "logs/cluster/report.log").exists()
    for job in jobs:
        assert job["log"].startswith(str(workdir / ".snakemake/slurm_logs/rule_")) and not Path(job["log"]).exists()


def test_two_gpu_jobs_run_at_once_on_different_gpus(cluster, cluster_run):
    """The node has two GPUs: two jobs run at once, each on its own one (CUDA_VISIBLE_DEVICES differs),
    and a third waits rather than share."""
    steps = cluster.steps()
    spans = [(float(s["0"]["start"]), float(s["0"]["end"]), s["0"]["cuda"], job["jobid"])
             for job in cluster_run[2] for s in [steps[job["jobid"]]]]
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, f"no two GPU jobs ran at once: {spans}"
    for a, b in overlapping:
        assert a[2] != b[2], f"jobs {a[3]} and {b[3]} ran at once on the same GPU {a[2]}"
    # never three at once on a two-GPU node
    for start, *_ in spans:
        assert sum(1 for s, e, *_ in spans if s <= start < e) <= 2


# ---- faults ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulted_run(cluster, local_run, tmp_path_factory):
    """One cluster run of the profile in which SLURM cancels BERT's training (scancel) and requeues
    SmartBERT's (scontrol requeue, as a preemption does), each after its first finished epoch."""
    workdir = tmp_path_factory.mktemp("faults")
    process = start_workflow(workdir, "--workflow-profile", str(site_profile(workdir / "site")), *SWEEPS)
    try:
        done = {}
        for method, how in (("bert", ["scancel"]), ("smartbert", ["scontrol", "requeue"])):
            jobid = wait_for(lambda method=method: running_job("train", MODELS[method]), 180, f"{method}'s training job", process)
            wait_for(lambda method=method: checkpoints(workdir, method), 180, f"{method}'s first checkpoint", process, poll=0.05)
            assert not (workdir / model_dir(method) / "model.safetensors").exists(), "finished before the fault"
            subprocess.run([*how, jobid], check=True)
            if how[-1] == "requeue":
                # SLURM holds a requeued batch job for 2 minutes before it may start again (BeginTime); a
                # real preemption waits so too. Only the wait is shortened here: the job is the same.
                wait_for(lambda jobid=jobid: scontrol_job(jobid)["JobState"] == "PENDING", 60, "the requeued job to be pending")
                subprocess.run(["scontrol", "update", f"jobid={jobid}", "StartTime=now"], check=True)
            done[method] = jobid
        process.wait(timeout=420)
    finally:
        stop(process)
    output = (workdir / "snakemake.out").read_text()
    assert process.returncode == 0, output[-4000:]
    return workdir, output, done


def resumed(workdir: Path, method: str) -> bool:
    return "resuming after epoch" in (workdir / f"logs/cluster/train/{TASK}/{method}/default/seed1.log").read_text()


def test_a_training_cancelled_by_slurm_is_retried_and_resumes(faulted_run, local_run):
    workdir, output, done = faulted_run
    assert scontrol_job(done["bert"])["JobState"] == "CANCELLED"
    trains = [job for job in submitted(output) if job["rule"] == "train" and job["wildcards"] == MODELS["bert"]]
    assert [job["jobid"] for job in trains][0] == done["bert"] and len(trains) == 2, trains  # attempt 2 submitted
    assert scontrol_job(trains[1]["jobid"])["JobState"] == "COMPLETED"
    assert Path(trains[0]["log"]).exists()  # the failed job's SLURM log is kept
    assert resumed(workdir, "bert")  # continued from its last finished epoch, not from the start
    name = f"{ROOT}/sweeps/{TASK}/bert/default/seed1.csv"
    assert (workdir / name).read_bytes() == (local_run / name).read_bytes()


def test_a_preempted_training_is_requeued_by_slurm_and_resumes(faulted_run, local_run):
    workdir, output, done = faulted_run
    info = scontrol_job(done["smartbert"])
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", info  # the same job, run again by SLURM
    trains = [job for job in submitted(output) if job["rule"] == "train" and job["wildcards"] == MODELS["smartbert"]]
    assert [job["jobid"] for job in trains] == [done["smartbert"]]  # Snakemake waited; it submitted nothing new
    assert resumed(workdir, "smartbert")
    for variant in ("default", "skiponly"):
        name = f"{ROOT}/sweeps/{TASK}/smartbert/{variant}/seed1.csv"
        assert (workdir / name).read_bytes() == (local_run / name).read_bytes(), name


def test_a_training_over_its_time_limit_gets_more_time_on_attempt_2(cluster, tmp_path):
    """BERT alone, 280 epochs (100-170 s on this 2-core machine); attempt 1 asks for 1 minute, each retry
    for 4 more: SLURM ends attempt 1 at its limit (TIMEOUT), attempt 2 asks for 5 minutes, resumes, finishes."""
    config = yaml.safe_load(PROFILE.read_text())
    config["methods"] = {"bert": {"train": {"epochs": 280}}}
    (tmp_path / "timeout.yaml").write_text(yaml.safe_dump(config))

    def limit(settings):
        settings["set-resources"]["train"]["runtime"] = "1 + 4 * (attempt - 1)"

    profile = site_profile(tmp_path / "site", change=limit)
    result = run_workflow(tmp_path, "--workflow-profile", str(profile), model_dir("bert"),
                          config=tmp_path / "timeout.yaml", timeout=420)
    assert result.returncode == 0, result.stdout[-4000:]
    trains = [job for job in submitted(result.stdout) if job["rule"] == "train"]
    assert len(trains) == 2, trains
    first, second = (scontrol_job(job["jobid"]) for job in trains)
    assert (first["JobState"], first["TimeLimit"]) == ("TIMEOUT", "00:01:00"), first
    assert (second["JobState"], second["TimeLimit"]) == ("COMPLETED", "00:05:00"), second
    assert "resuming after epoch" in (tmp_path / f"logs/cluster/train/{TASK}/bert/default/seed1.log").read_text()
    assert (tmp_path / model_dir("bert") / "model.safetensors").exists()


def test_the_workflow_killed_with_jobs_in_the_queue_and_restarted_redoes_nothing_finished(cluster, local_run, tmp_path):
    """Snakemake itself dies (SIGKILL: the login node's session is gone) while both trainings are in
    SLURM's queue; the jobs go on without it. Started again (after --unlock), it redoes nothing that
    finished (the data summary, trainings that ended meanwhile) and ends in the undisturbed sweeps."""
    profile = site_profile(tmp_path / "site")
    process = start_workflow(tmp_path, "--workflow-profile", str(profile), *SWEEPS)
    try:
        jobids = {method: wait_for(lambda wc=wc: running_job("train", wc), 180, f"{method}'s training job", process)
                  for method, wc in MODELS.items()}
        wait_for(lambda: checkpoints(tmp_path, "bert"), 120, "BERT's first checkpoint", process, poll=0.05)
    finally:
        stop(process, signal.SIGKILL)
    summary = tmp_path / f"{ROOT}/data/{TASK}.json"
    summary_time = summary.stat().st_mtime_ns
    first_output = (tmp_path / "snakemake.out").read_text()
    # the orphaned jobs run on; wait for them to end as SLURM sees them
    wait_for(lambda: all(scontrol_job(j)["JobState"] == "COMPLETED" for j in jobids.values()), 240,
             "the orphaned trainings to finish", poll=1)
    models = {m: (tmp_path / model_dir(m) / "model.safetensors").stat().st_mtime_ns for m in MODELS}
    assert run_workflow(tmp_path, "--workflow-profile", str(profile), "--unlock", timeout=120).returncode == 0
    result = run_workflow(tmp_path, "--workflow-profile", str(profile), *SWEEPS, timeout=420)
    assert result.returncode == 0, result.stdout[-4000:]
    second = result.stdout[len(first_output):]
    rules = sorted(job["rule"] for job in submitted(second))
    assert rules == ["trace", "trace"], rules  # the trainings that finished meanwhile are not submitted again
    assert summary.stat().st_mtime_ns == summary_time  # nor is the data summary redone
    assert {m: (tmp_path / model_dir(m) / "model.safetensors").stat().st_mtime_ns for m in MODELS} == models
    for name in sweeps(local_run):
        assert (tmp_path / name).read_bytes() == (local_run / name).read_bytes(), name
