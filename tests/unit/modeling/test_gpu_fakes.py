"""The CUDA-only parts of the device seam, on the CPU with ``torch.cuda`` faked: GPU claims through
the lock folder (whatever each job's ``$TMPDIR``), and the CUDA generator a resumed training restores
(the one it trained with, whichever GPU it resumes on)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
import torch

from smartbert.modeling import device as seam
from smartbert.modeling.device import GPU_LOCK_ENV, claim_gpu, resolve_device, rng_state, set_rng_state


class FakeGpus:
    """``torch.cuda`` with ``count`` GPUs that exist as names and generator states only: what the
    device seam asks of CUDA (claims, properties, RNG states)."""

    def __init__(self, count: int) -> None:
        self.count, self.current = count, 0
        self.states = {i: torch.full((16,), i, dtype=torch.uint8) for i in range(count)}

    def install(self, patch: Callable[[object, str, object], None]) -> FakeGpus:
        cuda = torch.cuda
        for name, value in {
            "is_available": lambda: True, "is_initialized": lambda: True, "device_count": lambda: self.count,
            "set_device": self.set_device, "current_device": lambda: self.current,
            "get_device_properties": lambda i: SimpleNamespace(uuid=f"GPU-fake-{i}", name="Fake", major=8, minor=0),
            "mem_get_info": lambda i: (2**30, 2**34),
            "get_rng_state": lambda device="cuda": self.states[self.index(device)].clone(),
            "set_rng_state": lambda state, device="cuda": self.states.__setitem__(self.index(device), state.clone()),
            "get_rng_state_all": lambda: [self.states[i].clone() for i in range(self.count)],
            "set_rng_state_all": lambda states: self.states.update({i: s.clone() for i, s in enumerate(states)}),
        }.items():
            patch(cuda, name, value)
        return self

    def set_device(self, index: int) -> None:
        self.current = index

    def index(self, device: int | str | torch.device) -> int:
        if isinstance(device, int):
            return device
        device = torch.device(device)
        return self.current if device.index is None else device.index


@pytest.fixture
def own_claims(monkeypatch) -> Iterator[list[int]]:
    """This test's GPU claims, released at its end (a process holds its claims until it exits)."""
    claimed: list[int] = []
    monkeypatch.setattr(seam, "_claimed", claimed)
    yield claimed
    for fd in claimed:
        os.close(fd)


# ---- the lock folder ------------------------------------------------------------------------------

def _claim_in_a_job(tmpdir: str, lock_base: str, claims, release) -> None:
    """A job (forked process) with its own $TMPDIR on a machine with four fake GPUs: claims one, says
    which, and holds it until released."""
    os.environ["TMPDIR"], tempfile.tempdir = tmpdir, None
    os.environ.pop(GPU_LOCK_ENV, None)
    seam.GPU_LOCK_BASE = lock_base  # the machine-wide place, here a test folder
    FakeGpus(4).install(setattr)
    claims.put(claim_gpu().index)
    release.wait(60)


def test_jobs_with_different_tmpdirs_claim_different_gpus(tmp_path) -> None:
    """Each job's TMPDIR differs (per-job temp folders, containers): the lock folder must not."""
    context = multiprocessing.get_context("fork")
    claims, release = context.Queue(), context.Event()
    (tmp_path / "machine").mkdir()
    jobs = [context.Process(target=_claim_in_a_job, args=(str(tmp_path / f"tmp{i}"), str(tmp_path / "machine"), claims, release))
            for i in range(3)]
    for i, job in enumerate(jobs):
        (tmp_path / f"tmp{i}").mkdir()
        job.start()
    try:
        indices = sorted(claims.get(timeout=30) for _ in jobs)
    finally:
        release.set()
        for job in jobs:
            job.join(60)
    assert indices == [0, 1, 2]


def test_the_lock_folder_is_per_user_and_machine_not_per_tmpdir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(GPU_LOCK_ENV, raising=False)
    monkeypatch.setattr(seam, "GPU_LOCK_BASE", str(tmp_path))
    folders = set()
    for tmpdir in ("a", "b"):
        monkeypatch.setenv("TMPDIR", str(tmp_path / tmpdir))
        monkeypatch.setattr(tempfile, "tempdir", None)
        folders.add(seam.gpu_lock_folder())
    assert folders == {tmp_path / f"smartbert-gpu-locks-{os.getuid()}"}
    monkeypatch.setenv(GPU_LOCK_ENV, str(tmp_path / "shared"))
    assert seam.gpu_lock_folder() == tmp_path / "shared"


def test_a_default_lock_folder_that_is_not_ours_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(GPU_LOCK_ENV, raising=False)
    monkeypatch.setattr(seam, "GPU_LOCK_BASE", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"smartbert-gpu-locks-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(seam.SmartBertError, match=f"not a folder of this user: set \\${GPU_LOCK_ENV}"):
        seam.gpu_lock_folder()


def test_a_pinned_gpu_is_claimed_too_and_sharing_it_is_said(tmp_path, monkeypatch, own_claims, caplog) -> None:
    """--device cuda:1 takes GPU 1's lock, so `auto` jobs beside it go elsewhere; a second cuda:1 warns."""
    FakeGpus(4).install(monkeypatch.setattr)
    monkeypatch.setenv(GPU_LOCK_ENV, str(tmp_path))
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert [claim_gpu().index, claim_gpu().index] == [0, 2]
    with caplog.at_level(logging.WARNING, logger="smartbert.modeling.device"):
        assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert "cuda:1 is already claimed by another smartbert process" in caplog.text and "--device auto" in caplog.text


# ---- the CUDA generator of a resumed training -------------------------------------------------------

def test_a_job_resumed_on_another_gpu_restores_the_generator_it_trained_with(monkeypatch) -> None:
    gpus = FakeGpus(4).install(monkeypatch.setattr)
    gpus.set_device(2)  # trained on cuda:2
    trained = gpus.states[2].clone()
    state = rng_state()
    resumed = FakeGpus(4).install(monkeypatch.setattr)  # a fresh process: every generator at its own state
    resumed.set_device(0)  # resumed on cuda:0
    set_rng_state(state)
    assert torch.equal(resumed.states[0], trained)
    assert all(torch.equal(resumed.states[i], torch.full((16,), i, dtype=torch.uint8)) for i in (1, 2, 3))
    assert state["cuda_device"] == {"index": 2, "uuid": "GPU-fake-2"}  # which GPU wrote it, for the record


def test_a_job_resumed_where_one_gpu_is_visible_restores_the_generator_it_trained_with(monkeypatch) -> None:
    gpus = FakeGpus(4).install(monkeypatch.setattr)
    gpus.set_device(3)
    state = rng_state()
    single = FakeGpus(1).install(monkeypatch.setattr)  # a SLURM job: one GPU, cuda:0
    set_rng_state(state)
    assert torch.equal(single.states[0], torch.full((16,), 3, dtype=torch.uint8))


def test_old_checkpoints_rng_states_still_load(monkeypatch) -> None:
    """Before the training GPU was recorded: every GPU's state by index (restored by index where the
    count matches, onto the current GPU where one was visible), or a bare CPU state."""
    gpus = FakeGpus(2).install(monkeypatch.setattr)
    old = [torch.full((16,), 7, dtype=torch.uint8), torch.full((16,), 8, dtype=torch.uint8)]
    cpu = torch.get_rng_state()
    before = torch.rand(3)
    set_rng_state({"cpu": cpu, "cuda": old})
    assert [s[0].item() for s in gpus.states.values()] == [7, 8]
    assert torch.equal(torch.rand(3), before)
    gpus.set_device(1)
    set_rng_state({"cpu": cpu, "cuda": [torch.full((16,), 9, dtype=torch.uint8)]})
    assert gpus.states[1][0].item() == 9
    set_rng_state(cpu)
    assert torch.equal(torch.rand(3), before)
