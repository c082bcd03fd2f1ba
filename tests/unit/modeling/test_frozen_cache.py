"""The frozen-pass cache (smartbert.modeling.frozen): every registered stage that declares frozen inputs trains
to the same weights from the cache as from the live pass, computes its frozen part once instead
of every epoch, and falls back to the live pass over its bound or with dropout on; each batch is
gathered by indexing, into pinned memory when it goes to a GPU, and a GPU recomputes by default."""

from __future__ import annotations

import logging

import pytest
import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.encode import encode
from smartbert.data.load import load_split
from smartbert.data.tasks import get_task
from smartbert.methods.registry import get_method, method_names
from smartbert.modeling import frozen
from smartbert.modeling.frozen import CACHE_ENV, FrozenCache, FrozenInputs, cache_limit_mb
from smartbert.training.config import TrainConfig
from smartbert.training.trainer import train_stage
from tests.helpers import tiny_bert

FROZEN_STAGES = [(name, i) for name in method_names()
                 for i, stage in enumerate(get_method(name).stages(get_method(name).config_class())) if stage.frozen]


def test_every_second_stage_of_a_frozen_model_declares_its_frozen_inputs() -> None:
    assert {name for name, _ in FROZEN_STAGES} >= {"deebert", "fastbert", "smartbert"}


@pytest.fixture(scope="module")
def splits(tokenizer):
    data = encode(load_split("synthetic-sentiment", "train")[:40], tokenizer)
    return data.subset(range(32)), data.subset(range(32, 40))


def train(name: str, index: int, splits, monkeypatch, limit: str, **stage_changes):
    """(model after the stage, report, encoder layer-1 calls) with the cache bound ``limit`` MB."""
    monkeypatch.setenv(CACHE_ENV, limit)
    method = get_method(name)
    config = method.config_class()
    torch.manual_seed(0)
    model = method.build(tiny_bert(0), 2, config)
    stage = method.stages(config)[index]
    for key, value in stage_changes.items():
        setattr(stage, key, value)
    calls = []
    model.encoder.layers[0].register_forward_hook(lambda *args: calls.append(1))
    report = train_stage(model, stage, splits[0], splits[1], get_task("synthetic-sentiment"),
                         TrainConfig(epochs=3, batch_size=8, eval_batch_size=16, seed=1), progress=False)
    return model, report, len(calls)


def expected_live_calls(name: str, index: int) -> int:
    """Layer-1 calls of the live pass: every epoch, 32 / 8 training batches and one scoring batch."""
    method = get_method(name)
    return (method.stages(method.config_class())[index].epochs or 3) * (4 + 1)


@pytest.mark.parametrize("name, index", FROZEN_STAGES)
def test_cached_frozen_pass_trains_what_the_live_pass_trains(name: str, index: int, splits, monkeypatch) -> None:
    cached, cached_report, cached_calls = train(name, index, splits, monkeypatch, "4096")
    live, live_report, live_calls = train(name, index, splits, monkeypatch, "0")
    # live: every training batch of every epoch and every scoring batch; cached: one pass per split
    assert cached_calls == 2 + 1  # once: 32 training examples in batches of 16, 8 selection examples in one
    assert live_calls == expected_live_calls(name, index)
    for (key, a), b in zip(cached.state_dict().items(), live.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"{name} {key}")
    for a, b in zip(cached_report.epochs, live_report.epochs):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["metric"] == pytest.approx(b["metric"], abs=1e-6)


def test_a_split_over_the_bound_is_computed_live(splits, monkeypatch, caplog) -> None:
    name, index = FROZEN_STAGES[0]
    with caplog.at_level(logging.INFO, logger="smartbert.train"):
        _, _, calls = train(name, index, splits, monkeypatch, "0.001")
    assert calls == expected_live_calls(name, index) + 2  # + one batch per split that sized the cache
    assert "frozen pass not cached" in caplog.text and CACHE_ENV in caplog.text


def test_dropout_in_the_frozen_part_is_never_cached(splits, monkeypatch) -> None:
    name, index = FROZEN_STAGES[0]
    _, _, calls = train(name, index, splits, monkeypatch, "4096", frozen_dropout=True)
    assert calls == expected_live_calls(name, index)


@pytest.mark.parametrize("value", ["lots", "-1"])
def test_a_bad_bound_names_the_variable(value: str, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, value)
    with pytest.raises(SmartBertError, match=CACHE_ENV):
        cache_limit_mb()


# ---- where the cache lives and what a step pays for it ----------------------------------------------

def small_cache(seed: int = 0) -> tuple[FrozenCache, list[int]]:
    """A cache of 7 examples of lengths 1-5: token states [tokens, 2, 3], one row [7, 4] per example."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 6, (7,), generator=generator).tolist()
    tokens = {"states": torch.randn(sum(lengths) + 1, 2, 3, generator=generator)}  # + the padding row
    rows = {"teacher": torch.randn(7, 4, generator=generator)}
    return FrozenCache(lengths, tokens, rows), lengths


def test_gather_pads_each_examples_tokens_with_zeros_in_batch_order() -> None:
    cache, lengths = small_cache()
    index, width = torch.tensor([5, 0, 3, 3]), max(lengths) + 2
    got = cache.gather(index, width, torch.device("cpu"))
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    for row, i in enumerate(index.tolist()):
        expected = torch.zeros(width, 2, 3)
        expected[:lengths[i]] = cache.tokens["states"][offsets[i]:offsets[i] + lengths[i]]
        assert torch.equal(got.tokens["states"][row], expected)
        assert torch.equal(got.rows["teacher"][row], cache.rows["teacher"][i])


def test_gather_stages_in_pinned_memory_for_a_gpu_only(monkeypatch) -> None:
    """Batches bound for CUDA are gathered into page-locked buffers (their copy then does not wait)."""
    cache, lengths = small_cache()
    pinned, moved = [], []
    monkeypatch.setattr(frozen, "_host_buffer", lambda shape, dtype, pin: pinned.append(pin) or torch.empty(shape, dtype=dtype))
    monkeypatch.setattr(FrozenInputs, "to", lambda self, device: moved.append(device) or self)
    cache.gather(torch.tensor([1, 2]), max(lengths), torch.device("cuda"))
    assert pinned == [True, True] and moved == [torch.device("cuda")]
    cache.gather(torch.tensor([1, 2]), max(lengths), torch.device("cpu"))
    assert pinned[2:] == [False, False]


def test_unset_the_cache_is_on_for_the_cpu_and_off_for_a_gpu(splits, monkeypatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_limit_mb() is None
    assert frozen.default_cache_mb(torch.device("cpu")) == frozen.DEFAULT_CACHE_MB > 0
    assert frozen.default_cache_mb(torch.device("cuda")) == 0
    name, index = FROZEN_STAGES[0]
    method = get_method(name)
    model = method.build(tiny_bert(0), 2, method.config_class())
    stage = method.stages(method.config_class())[index]
    assert stage.frozen is not None
    assert FrozenCache.build(model, stage.frozen, splits[0], 16, None, "train") is not None  # the CPU: cached
    monkeypatch.setattr(frozen, "model_device", lambda model: torch.device("cuda"))

    def never(*args):
        raise AssertionError("a GPU's default recomputes the frozen pass: nothing to build")

    assert FrozenCache.build(model, never, splits[0], 16, None, "train") is None
