"""Every registered method, parametrised over the registry: a method is tested the moment it
registers. Trains a step per stage, never-exiting and extreme thresholds replay exactly as they
infer, counts its cost exactly (replay = batch 1 = batched at thresholds that split every batch:
test_equivalence.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.encode import collate
from smartbert.inference.dynamic import predict_batched, predict_dynamic
from smartbert.inference.record import record_trace
from smartbert.methods.registry import get_method, method_names
from smartbert.modeling.device import to_device
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import BackboneShape
from smartbert.replay.policies import POLICIES
from smartbert.replay.sweep import example_costs
from smartbert.replay.trace import replay
from tests.helpers import tiny_bert

METHODS = method_names()


def thresholds(name: str) -> list[float]:
    """Five points of the method's policy grid, its two extremes included."""
    grid = POLICIES[get_method(name).default_policy].grid
    return sorted({grid[0], grid[len(grid) // 4], grid[len(grid) // 2], grid[3 * len(grid) // 4], grid[-1]})


def build(name: str, num_labels: int = 2, seed: int = 0, device: torch.device | str = "cpu"):
    method = get_method(name)
    config = method.config_class()
    torch.manual_seed(seed)
    return method, config, method.build(tiny_bert(seed), num_labels, config).to(device)


def trained_stages(name: str, data, device: torch.device | str = "cpu"):
    """(model, stage, batch, trainable parameters, their values before) for every stage of the
    method that trains (a reused stage loads another model instead), model and batch on ``device``."""
    method, config, model = build(name, device=device)
    batch = collate(data, list(range(8)))
    batch["teacher_logits"] = torch.randn(8, 2)
    batch = to_device(batch, torch.device(device))
    for stage in method.stages(config):
        if not stage.reuse:
            params = list(dict.fromkeys(stage.trainable(model)))
            model.train()
            yield model, stage, batch, params, [p.detach().clone() for p in params]


@pytest.mark.parametrize("name", METHODS)
def test_each_stage_trains_a_step(name: str, sentiment_dev, device) -> None:
    for model, stage, batch, params, before in trained_stages(name, sentiment_dev, device):
        optimizer = torch.optim.AdamW(params, lr=1e-3)
        loss, terms = stage.loss(model, batch, 0)
        assert torch.isfinite(loss) and terms
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), "no gradient reached the trainable parameters"
        optimizer.step()
        optimizer.zero_grad()
        assert any(not torch.equal(b, p) for b, p in zip(before, params))


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
@pytest.mark.parametrize("name", METHODS)
def test_each_stage_takes_a_mixed_precision_step(name: str, precision: str, dtype: torch.dtype, sentiment_dev, device) -> None:
    """train.precision = bf16 / fp16: the trainer's step computes the loss under autocast to that
    dtype (fp16 with a loss scaler: gradients unscaled before clipping); the loss is finite, the
    weights move and stay float32 (mixed precision, not a half-precision model)."""
    import dataclasses

    from smartbert.training.precision import MixedPrecision
    from smartbert.training.trainer import (
        TrainConfig,
        make_optimizer,
        optimisation_step,
    )

    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    for model, stage, batch, params, before in trained_stages(name, sentiment_dev, device):
        seen = []

        def recording_loss(*args, loss=stage.loss, seen=seen):
            seen.append((torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type)))
            return loss(*args)

        amp = MixedPrecision(precision, device)
        assert (amp.scaler is not None) == (precision == "fp16")
        optimizer = make_optimizer([{"params": params}], 1e-3)
        for _ in range(10):  # fp16: the scaler skips the first steps whose scaled gradients overflow (scale 2^16, halving)
            loss = optimisation_step(model, dataclasses.replace(stage, loss=recording_loss), batch, 0, params,
                                     optimizer, TrainConfig(precision=precision), amp=amp)
            if amp.skipped_in_a_row == 0:
                break
        assert set(seen) == {(True, dtype)}
        assert torch.isfinite(loss)
        assert any(not torch.equal(b, p) for b, p in zip(before, params))
        assert all(p.dtype == torch.float32 for p in params)


def test_fp16_overflow_is_skipped_by_the_scaler_then_named(sentiment_dev) -> None:
    """Under fp16 a non-finite loss is the scaler's business (the step is skipped, the scale drops,
    the weights stay); only MAX_SKIPPED_STEPS in a row is an error, and it says to use bf16 or fp32."""
    import dataclasses

    from smartbert.training.precision import (
        MAX_SKIPPED_STEPS,
        MixedPrecision,
        NonFiniteLossError,
    )
    from smartbert.training.trainer import (
        TrainConfig,
        make_optimizer,
        optimisation_step,
    )

    model, stage, batch, params, before = next(trained_stages("bert", sentiment_dev))
    overflowing = dataclasses.replace(stage, loss=lambda *args: (stage.loss(*args)[0] * float("inf"), {"ce": 1.0}))
    amp, optimizer, config = MixedPrecision("fp16", torch.device("cpu")), make_optimizer([{"params": params}], 1e-3), TrainConfig(precision="fp16")
    scale = amp.scaler.get_scale()
    for _ in range(MAX_SKIPPED_STEPS - 1):
        optimisation_step(model, overflowing, batch, 0, params, optimizer, config, amp=amp)
    assert amp.scaler.get_scale() < scale and all(torch.equal(b, p) for b, p in zip(before, params))
    optimisation_step(model, stage, batch, 0, params, optimizer, config, amp=amp)  # a finite step resets the count
    assert amp.skipped_in_a_row == 0
    with pytest.raises(NonFiniteLossError, match="fp16 gave non-finite losses.*use bf16 or fp32"):
        for _ in range(MAX_SKIPPED_STEPS):
            optimisation_step(model, overflowing, batch, 0, params, optimizer, config, amp=amp)


@pytest.mark.parametrize("name", METHODS)
def test_a_policy_that_never_exits_runs_and_counts_the_last_head_only(name: str, sentiment_dev, device) -> None:
    """Skip-only (Table 3) and static models: gates and the layers that run, plus the last head; the
    intermediate heads are neither computed (batch 1, batched) nor counted (replay), exactly alike."""
    from smartbert.replay.policies import make_policy

    method, config, model = build(name, device=device)
    policy = make_policy("none")
    replayed = replay(record_trace(model, sentiment_dev, batch_size=16, meta={}), policy)
    calls = {layer: 0 for layer in model.exit_layers}
    hooks = [model.head(layer).register_forward_hook(lambda *a, layer=layer: calls.__setitem__(layer, calls[layer] + 1))
             for layer in model.exit_layers]
    single = predict_dynamic(model, sentiment_dev, policy)
    per_example = dict(calls)
    batched = predict_batched(model, sentiment_dev, policy, batch_size=8)
    for hook in hooks:
        hook.remove()
    assert per_example == {layer: len(sentiment_dev) if layer == model.num_layers else 0 for layer in model.exit_layers}
    assert calls[model.num_layers] == per_example[model.num_layers] + -(-len(sentiment_dev) // 8)
    for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
        np.testing.assert_array_equal(getattr(replayed, field), getattr(single, field), err_msg=field)
        np.testing.assert_array_equal(getattr(batched, field), getattr(single, field), err_msg=field)
    assert (replayed.heads == 1).all() and (replayed.exit_layer == model.num_layers).all()


@pytest.mark.parametrize("name", METHODS)
def test_extreme_thresholds(name: str, sentiment_dev) -> None:
    method, config, model = build(name)
    policy_class = POLICIES[method.default_policy]
    trace = record_trace(model, sentiment_dev, meta={})
    never = replay(trace, method.policy(config, policy_class.grid[0]))
    assert (never.exit_layer == model.num_layers).all()
    eager = replay(trace, method.policy(config, policy_class.grid[-1]))
    if method.default_policy == "none":  # static: threshold has no effect
        assert (eager.exit_layer == model.num_layers).all()
    else:
        np.testing.assert_array_equal(eager.exit_layer, [first_possible_exit(trace, n, method.default_policy)
                                                         for n in range(trace.num_examples)])


def first_possible_exit(trace, n: int, policy: str) -> int:
    """By hand: the first evaluated head (entropy policies at the eager extreme), or for patience 1
    the first head that agrees with the head before it; the last layer otherwise."""
    layers = [i + 1 for i in range(trace.num_layers) if trace.evaluated[n, i]]
    if policy != "patience":
        return layers[0]
    predictions = [int(np.argmax(trace.logits[n, layer - 1])) for layer in layers]
    for k in range(1, len(layers)):
        if predictions[k] == predictions[k - 1]:
            return layers[k]
    return trace.num_layers


@pytest.mark.parametrize("name", METHODS)
def test_cost_counts_exactly_the_components_evaluated(name: str, sentiment_dev) -> None:
    method, config, model = build(name)
    trace = record_trace(model, sentiment_dev, meta={})
    middle = thresholds(name)[len(thresholds(name)) // 2]
    result = replay(trace, method.policy(config, middle))
    costs = component_costs(BackboneShape.from_config(model.encoder.config), 128, 2)
    flops = example_costs(result, costs, model.head_kind, "paper")
    # by hand for example 0: walk its trace row up to the exit
    exit_layer = result.exit_layer[0]
    layers = trace.ran[0, :exit_layer].sum()
    heads = trace.evaluated[0, :exit_layer].sum()
    gates = exit_layer if model.gates is not None else 0
    c = costs.paper
    assert flops[0] == pytest.approx(c["embeddings"] + layers * c["layer"] + heads * c[model.head_kind] + gates * c["skip_gate"])
    assert heads >= 1


def test_pabee_shared_pooler_is_the_backbones_and_every_layer_trains_it() -> None:
    from baselines.pabee import PabeeConfig

    method = get_method("pabee")
    backbone = tiny_bert(0)
    expected = backbone.pooler.dense.weight.detach().clone()
    model = method.build(backbone, 2, PabeeConfig(pooler="shared"))
    poolers = {id(model.head(layer).pooler) for layer in model.exit_layers}
    assert len(poolers) == 1 and torch.equal(model.head(1).pooler.weight, expected)
    own = method.build(tiny_bert(0), 2, PabeeConfig())
    assert len({id(own.head(layer).pooler) for layer in own.exit_layers}) == own.num_layers
    # the first layer's loss alone reaches the pooler the last layer uses
    ids = torch.tensor([[101, 2000, 2001, 102]])
    model.head(1)(model.encoder.layer(0, model.encoder.embed(ids, None), None)).sum().backward()
    assert model.head(model.num_layers).pooler.weight.grad is not None
    # a saved state loads back into a fresh shared build and stays shared
    again = method.build(tiny_bert(1), 2, PabeeConfig(pooler="shared"))
    again.load_state_dict(model.state_dict())
    assert len({id(again.head(layer).pooler) for layer in again.exit_layers}) == 1
    assert torch.equal(again.head(3).pooler.weight, model.head(1).pooler.weight)
    with pytest.raises(SmartBertError, match=r"pooler must be one of \[.per_layer., .shared.\]"):
        PabeeConfig(pooler="own")


def test_deebert_mean_pooled_offramps_replay_as_they_infer(sentiment_dev) -> None:
    """The diagnostic off-ramp (mean of the tokens, padding left out) is exact under replay, batch 1
    and compacting batches alike, and differs from [CLS] pooling."""
    from baselines.deebert import DeeBertConfig
    from smartbert.modeling.encoder import additive_mask
    from smartbert.replay.policies import make_policy

    method = get_method("deebert")
    torch.manual_seed(0)
    model = method.build(tiny_bert(0), 2, DeeBertConfig(offramp_pooling="mean"))
    policy = make_policy("entropy", 0.6)
    replayed = replay(record_trace(model, sentiment_dev, batch_size=16, meta={}), policy)
    single, batched = predict_dynamic(model, sentiment_dev, policy), predict_batched(model, sentiment_dev, policy, batch_size=8)
    for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
        np.testing.assert_array_equal(getattr(replayed, field), getattr(single, field), err_msg=field)
        np.testing.assert_array_equal(getattr(batched, field), getattr(single, field), err_msg=field)
    batch = collate(sentiment_dev, [0, 1, 2])
    hidden = torch.randn(3, batch["input_ids"].shape[1], model.encoder.hidden_size)
    head = model.head(1)
    padded = head(hidden, additive_mask(batch["attention_mask"], hidden.dtype))
    alone = torch.stack([head(hidden[i:i + 1, : int(batch["attention_mask"][i].sum())])[0] for i in range(3)])
    torch.testing.assert_close(padded, alone)  # padding does not change a row's mean
    with pytest.raises(SmartBertError, match=r"offramp_pooling must be one of \[.cls., .mean.\]"):
        DeeBertConfig(offramp_pooling="max")
