"""SmartBERT's gate initialisation option (``gate_init_skip``): a gate starts near the asked
probability of skipping, the default keeps PyTorch's initialisation and random stream, and the
option leaves every published configuration hash as it was while at its default."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from smartbert.core.config import config_hash, hashed_fields, setting
from smartbert.core.errors import SmartBertError
from smartbert.methods.smartbert import SmartBertConfig
from smartbert.modeling.heads import SkipGate

#: config_hash of SmartBertConfig() as the published sweeps of results/cpu-full and the quick run
#: carry it in their experiment hashes: a new field without ``hashed_at_default=False`` changes it
#: and makes every published SmartBERT sweep stale
PUBLISHED_DEFAULT_HASH = "82dbb5f02e8a"


def test_the_default_config_hashes_as_before_the_option_existed() -> None:
    assert "gate_init_skip" not in hashed_fields(SmartBertConfig())
    assert config_hash(SmartBertConfig()) == PUBLISHED_DEFAULT_HASH


def test_a_set_option_changes_the_hash() -> None:
    assert config_hash(SmartBertConfig(gate_init_skip=0.05)) != config_hash(SmartBertConfig())
    assert hashed_fields(SmartBertConfig(gate_init_skip=0.05))["gate_init_skip"] == 0.05


def test_only_a_marked_field_is_left_out_at_its_default() -> None:
    @dataclasses.dataclass
    class Example:
        old: int = dataclasses.field(default=1, metadata=setting("an old field"))
        new: int = dataclasses.field(default=2, metadata=setting("a later field", hashed_at_default=False))

    assert hashed_fields(Example()) == {"old": 1}
    assert hashed_fields(Example(new=3)) == {"old": 1, "new": 3}


def test_a_marked_field_with_a_default_factory_is_left_out_at_its_default() -> None:
    @dataclasses.dataclass
    class Example:
        new: list = dataclasses.field(default_factory=list, metadata=setting("a later list", hashed_at_default=False))

    assert hashed_fields(Example()) == {}
    assert hashed_fields(Example(new=[1])) == {"new": [1]}


def test_a_gate_refuses_a_start_outside_zero_one_by_name() -> None:
    with pytest.raises(SmartBertError, match="start_skip must be in \\(0, 1\\), got 1.0"):
        SkipGate(32, width=16, heads=2, start_skip=1.0)


@pytest.mark.parametrize("start", [0.05, 0.3, 0.9])  # not 0.5: PyTorch's initialisation starts near it anyway
def test_a_gate_starts_near_the_asked_probability(start: float) -> None:
    torch.manual_seed(0)
    gate = SkipGate(32, width=16, heads=2, dropout=0.0, start_skip=start).eval()
    with torch.no_grad():
        probs = gate(torch.randn(64, 7, 32), None)
    assert abs(float(probs.mean()) - start) < 0.05
    assert float(probs.min()) > start / 3 and float(probs.max()) < 1 - (1 - start) / 3


def test_the_option_draws_the_same_random_numbers_and_changes_only_the_output_bias() -> None:
    torch.manual_seed(3)
    default = SkipGate(32, width=16, heads=2).state_dict()
    after_default = torch.rand(1)
    torch.manual_seed(3)
    started = SkipGate(32, width=16, heads=2, start_skip=0.05).state_dict()
    assert torch.equal(torch.rand(1), after_default)
    changed = [name for name in default if not torch.equal(default[name], started[name])]
    assert changed == ["out.bias"]
    torch.testing.assert_close(torch.sigmoid(started["out.bias"]), torch.tensor([0.05]))


def test_built_smartbert_gates_start_near_run() -> None:
    from smartbert.methods.registry import get_method
    from tests.helpers import tiny_bert

    model = get_method("smartbert").build(tiny_bert(), 2, SmartBertConfig(gate_init_skip=0.05)).eval()
    hidden = torch.randn(4, 6, model.encoder.hidden_size)
    with torch.no_grad():
        probs = torch.stack([gate(hidden, None) for gate in model.gates])
    assert float(probs.max()) < 0.2


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1])
def test_a_start_outside_zero_one_is_refused_by_name(bad: float) -> None:
    with pytest.raises(SmartBertError, match="gate_init_skip must be in \\(0, 1\\)"):
        SmartBertConfig(gate_init_skip=bad)
