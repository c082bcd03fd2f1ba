"""Helpers of the cluster tests (tests/cluster/): the cluster's witness of job steps, SLURM's view of a job,
the site's edit of the slurm profile, and Snakemake run through its command line only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROFILE = HERE / "profile.yaml"  # the experiment: tiny BERT, one synthetic task, BERT and SmartBERT
SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
PARTITION = "testgpu"  # slurm_up.sh's partition: not the profile's `gpu`, so the site override is exercised
ROOT = "results/cluster"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)/rule_(\w+?)/([^/]+)/\d+\.log\)")


@dataclass
class Cluster:
    state: Path
    tasks_log: Path = field(init=False)

    def __post_init__(self):
        self.tasks_log = self.state / "log" / "tasks.log"

    def steps(self) -> dict[str, dict[str, dict]]:
        """jobid -> step ('batch' or '0', ...) -> {'start', 'end', 'cuda'} from the TaskProlog/Epilog witness."""
        out: dict[str, dict[str, dict]] = {}
        if not self.tasks_log.exists():
            return out
        for line in self.tasks_log.read_text().splitlines():
            job, step, phase, when, _name, cuda = line.split(" ", 5)
            record = out.setdefault(job, {}).setdefault("batch" if step == "?" else step, {})
            record["start" if phase == "prolog" else "end"] = float(when)
            record["cuda"] = cuda.removeprefix("cuda=")
        return out


def scontrol_job(jobid: str) -> dict[str, str]:
    """`scontrol show job -o` as a dict (SLURM keeps a finished job for MinJobAge = 300 s)."""
    text = subprocess.run(["scontrol", "show", "job", "-o", str(jobid)], capture_output=True, text=True, check=True).stdout
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def site_profile(folder: Path, init_delay: int = 2, change=None) -> Path:
    """workflow/profiles/slurm as a site would have it: its site settings edited (this cluster's partition;
    one CPU per GPU job, as the node has 2 cores for 2 GPUs; a 2 s first status check instead of 40 s),
    everything else as committed. Returns the folder to pass to --workflow-profile."""
    settings = yaml.safe_load(SLURM_PROFILE.read_text())
    for rule in settings["set-resources"].values():
        rule["slurm_partition"] = PARTITION
    settings["set-threads"] = {rule: 1 for rule in settings["set-threads"]}
    settings["slurm-init-seconds-before-status-checks"] = init_delay
    if change:
        change(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return folder


def workflow_env(workdir: Path) -> dict[str, str]:
    """Offline, the venv's `smartbert` on PATH, a cache of this run's own (the jobs inherit all of it)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                SMARTBERT_CACHE=str(workdir / ".cache"), SMARTBERT_DEVICE="auto")


def snakemake_command(*args: str, config: Path = PROFILE) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--configfile", str(config), *args]


def run_workflow(workdir: Path, *args: str, config: Path = PROFILE, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs Snakemake to its end (or kills it after `timeout` s: a hang is a failure, not a stuck test)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "snakemake.out", "a") as out:
        process = subprocess.Popen(snakemake_command(*args, config=config), cwd=workdir, env=workflow_env(workdir),
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            text = (workdir / "snakemake.out").read_text()
            raise AssertionError(f"snakemake did not finish in {timeout:.0f} s (hung?):\n{text[-3000:]}") from None
    text = (workdir / "snakemake.out").read_text()
    return subprocess.CompletedProcess(process.args, process.returncode, text, "")


def start_workflow(workdir: Path, *args: str, config: Path = PROFILE) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    out = open(workdir / "snakemake.out", "a")
    return subprocess.Popen(snakemake_command(*args, config=config), cwd=workdir, env=workflow_env(workdir),
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, how=None):
    """Ends a Snakemake started here and whatever it started locally (its process group)."""
    import signal

    if process.poll() is None:
        os.killpg(process.pid, how or signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def submitted(output: str) -> list[dict]:
    """Every SLURM job Snakemake submitted: jobid, rule, wildcards (as the plugin names its log folder), log."""
    return [{"jobid": m.group(1), "rule": m.group(3), "wildcards": m.group(4),
             "log": f"{m.group(2)}/rule_{m.group(3)}/{m.group(4)}/{m.group(1)}.log"} for m in SUBMITTED.finditer(output)]


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None, poll: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"snakemake ended (exit {process.returncode}) while waiting for {what}")
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def running_job(rule: str, wildcards: str) -> str | None:
    """The jobid of a RUNNING SLURM job of this rule and wildcards (the plugin's --comment), or None."""
    lines = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True).stdout
    for line in lines.splitlines():
        jobid, comment = line.split("|", 1)
        if comment.strip() == f"rule_{rule}_wildcards_{wildcards}":
            return jobid
    return None
