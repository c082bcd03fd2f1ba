"""A training step's precision (smartbert.training.precision): the TF32 switch holds only inside a
stage's steps (what runs after them is float32), and whether a step was finite is read from the
device every CHECK_EVERY steps instead of every step, while a non-finite step still never reaches
the weights and still stops the training with the error that names it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from smartbert.training.precision import CHECK_EVERY, MAX_SKIPPED_STEPS, MixedPrecision, NonFiniteLossError
from smartbert.training.trainer import make_optimizer

CPU = torch.device("cpu")
HOST_READS = {"__bool__", "item", "tolist", "__float__", "__int__", "__index__", "cpu", "numpy"}


class HostReads(TorchFunctionMode):
    """Counts the tensor calls that make the host wait for the device (one sync each on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, "__name__", "") in HOST_READS
        return func(*args, **(kwargs or {}))


def tf32() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture
def fake_ampere(monkeypatch) -> Iterator[torch.device]:
    """A CUDA device that passes tf32's capability check (the tensors stay on the CPU); the TF32
    flags as they were before, afterwards."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake Ampere")
    saved = tf32()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def weights(n: int = 3) -> tuple[nn.Parameter, torch.optim.Optimizer]:
    weight = nn.Parameter(torch.ones(n))
    return weight, make_optimizer([{"params": [weight]}], 0.1)


def take_step(amp: MixedPrecision, weight: nn.Parameter, optimizer, factor: float = 1.0, where: str = "here") -> None:
    loss = (weight * factor).square().sum()
    amp.step(loss, {"ce": loss}, [weight], optimizer, 1.0, where)


# ---- TF32 -------------------------------------------------------------------------------------------

def test_tf32_is_on_inside_the_stages_steps_only(fake_ampere) -> None:
    """A tf32 stage's forward, backward and optimizer step run with TF32; before and after it,
    float32 (a trace or a latency run later in the process must not inherit it)."""
    amp = MixedPrecision("tf32", fake_ampere)
    assert tf32() == (False, False)
    with amp.autocast():
        assert tf32() == (True, True)
    assert tf32() == (False, False)
    weight, optimizer = weights()
    seen = []
    loss = (weight * 2).sum()
    loss.register_hook(lambda grad: seen.append(tf32()))  # runs during backward
    amp.step(loss, {}, [weight], optimizer, 1.0, "here")
    assert seen == [(True, True)] and tf32() == (False, False)


def test_fp32_turns_tf32_off_inside_its_steps_and_restores_the_users_setting(fake_ampere) -> None:
    torch.backends.cuda.matmul.allow_tf32 = True
    amp = MixedPrecision("fp32", fake_ampere)
    with amp.autocast():
        assert tf32() == (False, False)
    assert tf32() == (True, False)


# ---- non-finite steps, read every CHECK_EVERY steps ------------------------------------------------

@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_finite_steps_read_the_device_once_per_check_not_every_step(precision: str) -> None:
    amp, (weight, optimizer) = MixedPrecision(precision, CPU), weights()
    with HostReads() as reads:
        for _ in range(10):
            take_step(amp, weight, optimizer)
    assert reads.count == 1  # the first step; fp16 reads next after MAX_SKIPPED_STEPS, fp32 after CHECK_EVERY
    assert CHECK_EVERY >= MAX_SKIPPED_STEPS > 10


def test_a_nan_loss_never_reaches_the_weights_and_stops_training_naming_its_step() -> None:
    amp, (weight, optimizer) = MixedPrecision("fp32", CPU), weights()
    take_step(amp, weight, optimizer, where="step 0")
    after_first = weight.detach().clone()
    take_step(amp, weight, optimizer, factor=float("nan"), where="step 1")
    assert torch.equal(weight.detach(), after_first)  # skipped on the device, not read yet
    assert not torch.isnan(optimizer.state[weight]["exp_avg"]).any()
    with pytest.raises(NonFiniteLossError, match=r"^step 1: non-finite loss nan \(terms: ce=nan\)\. Lower the learning rate"):
        for i in range(2, CHECK_EVERY + 2):
            take_step(amp, weight, optimizer, where=f"step {i}")
            assert i < CHECK_EVERY + 1, "read after CHECK_EVERY steps"


def test_a_nan_at_the_first_step_stops_at_once() -> None:
    amp, (weight, optimizer) = MixedPrecision("bf16", CPU), weights()
    with pytest.raises(NonFiniteLossError, match=r"^step 0: non-finite loss inf"):
        take_step(amp, weight, optimizer, factor=float("inf"), where="step 0")
    assert torch.equal(weight.detach(), torch.ones(3))


def test_non_finite_gradients_of_a_finite_loss_are_named_too() -> None:
    amp, (weight, optimizer) = MixedPrecision("fp32", CPU), weights()
    loss = torch.sqrt(weight - 1).sum()  # 0, with an infinite gradient at 0
    with pytest.raises(NonFiniteLossError, match=r"^here: non-finite gradients \(loss 0\)"):
        amp.step(loss, {"ce": loss}, [weight], optimizer, 1.0, "here")
    assert torch.equal(weight.detach(), torch.ones(3))


def test_an_optimizer_that_cannot_skip_on_the_device_is_read_every_step() -> None:
    amp, weight = MixedPrecision("fp32", CPU), nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    take_step(amp, weight, optimizer)
    with pytest.raises(NonFiniteLossError, match="non-finite loss nan"):
        take_step(amp, weight, optimizer, factor=float("nan"))
    assert not torch.isnan(weight).any()


def test_a_checkpoint_reads_the_pending_steps_first() -> None:
    amp, (weight, optimizer) = MixedPrecision("fp32", CPU), weights()
    take_step(amp, weight, optimizer)
    take_step(amp, weight, optimizer, factor=float("nan"), where="last step of the epoch")
    with pytest.raises(NonFiniteLossError, match="^last step of the epoch: non-finite loss"):
        amp.state_dict()


def test_fp16_stops_at_the_step_that_completes_max_skipped_steps_in_a_row() -> None:
    """The same step as with a read every step, however the skips fall between reads."""
    amp, (weight, optimizer) = MixedPrecision("fp16", CPU), weights()
    take_step(amp, weight, optimizer)
    for i in range(MAX_SKIPPED_STEPS - 1):
        take_step(amp, weight, optimizer, factor=float("inf"), where=f"overflow {i}")
    take_step(amp, weight, optimizer)  # a finite step resets the count
    for i in range(MAX_SKIPPED_STEPS - 1):
        take_step(amp, weight, optimizer, factor=float("inf"), where=f"overflow {i}")
    with pytest.raises(NonFiniteLossError, match=f"^overflow {MAX_SKIPPED_STEPS - 1}: fp16 gave non-finite .* use bf16 or fp32"):
        take_step(amp, weight, optimizer, factor=float("inf"), where=f"overflow {MAX_SKIPPED_STEPS - 1}")
