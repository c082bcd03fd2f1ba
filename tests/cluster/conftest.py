"""The one-node SLURM cluster of tests/cluster/ (issue 29), started once for the session by slurm_up.sh and
stopped by slurm_down.sh at its end, even when a test fails. Everything here drives the workflow through the
`snakemake` command line (and SLURM's own commands), never through smartbert's modules.

The cluster tests run only under `make cluster-test` (SMARTBERT_CLUSTER_TESTS=1, marker `cluster`): they
need root, install Debian packages and start daemons. Where SLURM cannot be had they skip with one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.cluster.cluster_helpers import HERE, Cluster, start_workflow, stop


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    if os.environ.get("SMARTBERT_CLUSTER_TESTS") != "1":
        pytest.skip("cluster tests: they start SLURM daemons as root; run them with `make cluster-test`")
    state = Path(tempfile.mkdtemp(prefix="smartbert-slurm-"))
    try:
        up = subprocess.run(["bash", str(HERE / "slurm_up.sh"), str(state)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", str(HERE / "slurm_down.sh"), str(state)], capture_output=True, timeout=120)
        pytest.fail("slurm_up.sh took over 15 minutes")
    if up.returncode == 77:
        pytest.skip((up.stderr.strip().splitlines() or ["SLURM cannot be started here"])[-1])
    try:
        if up.returncode != 0:
            pytest.fail(f"slurm_up.sh failed ({up.returncode}):\n{up.stderr[-4000:]}")
        sys.stderr.write(up.stderr)
        yield Cluster(state)
    finally:
        down = subprocess.run(["bash", str(HERE / "slurm_down.sh"), str(state)], capture_output=True, text=True, timeout=120)
        sys.stderr.write(down.stderr)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def local_run_started(tmp_path_factory):
    """The same profile run locally, the reference every cluster run is compared with; started at once and
    left to run beside the first cluster run (which mostly waits on the scheduler). One thread per
    training, as on the cluster (the results do not depend on it, but then the comparison needs no argument)."""
    workdir = tmp_path_factory.mktemp("local")
    process = start_workflow(workdir, "--cores", "2", "--set-threads", "train=1", "trace=1", "select=1")
    yield workdir, process
    stop(process)


@pytest.fixture(scope="session")
def local_run(local_run_started):
    workdir, process = local_run_started
    process.wait(timeout=900)
    assert process.returncode == 0, (workdir / "snakemake.out").read_text()[-4000:]
    return workdir
