"""Every registered method, parametrised over the registry: a method is tested the moment it
registers. Trains a step per stage, replays exactly as it infers, counts its cost exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_bert
from smartbert.data.encode import collate
from smartbert.dynamic import predict_dynamic
from smartbert.flops import component_costs
from smartbert.backbones import BackboneShape
from smartbert.registry import get_method, method_names
from smartbert.sweep import example_costs
from smartbert.trace import record_trace, replay

METHODS = method_names()
THRESHOLDS = [0.0, 0.05, 0.3, 0.6, 1e9]


def build(name: str, num_labels: int = 2, seed: int = 0):
    method = get_method(name)
    config = method.config_class()
    torch.manual_seed(seed)
    return method, config, method.build(tiny_bert(seed), num_labels, config)


@pytest.mark.parametrize("name", METHODS)
def test_each_stage_trains_a_step(name: str, sentiment_dev) -> None:
    method, config, model = build(name)
    batch = collate(sentiment_dev, list(range(8)))
    for stage in method.stages(config):
        if stage.reuse:
            continue
        params = list(dict.fromkeys(stage.trainable(model)))
        before = [p.detach().clone() for p in params]
        optimizer = torch.optim.AdamW(params, lr=1e-3)
        model.train()
        loss, terms = stage.loss(model, batch, 0)
        assert torch.isfinite(loss) and terms
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), "no gradient reached the trainable parameters"
        optimizer.step()
        optimizer.zero_grad()
        assert any(not torch.equal(b, p) for b, p in zip(before, params))


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_replay_equals_dynamic_inference(name: str, threshold: float, sentiment_dev) -> None:
    method, config, model = build(name)
    policy = method.policy(config, threshold)
    replayed = replay(record_trace(model, sentiment_dev, batch_size=16, meta={}), policy)
    dynamic = predict_dynamic(model, sentiment_dev, policy)
    for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
        np.testing.assert_array_equal(getattr(replayed, field), getattr(dynamic, field), err_msg=field)


@pytest.mark.parametrize("name", METHODS)
def test_extreme_thresholds(name: str, sentiment_dev) -> None:
    method, config, model = build(name)
    trace = record_trace(model, sentiment_dev, meta={})
    never = replay(trace, method.policy(config, 0.0))
    assert (never.exit_layer == model.num_layers).all()
    always = replay(trace, method.policy(config, 1e9))
    if method.default_policy == "none":  # static: threshold has no effect
        assert (always.exit_layer == model.num_layers).all()
    else:  # the first layer that ran and has a head
        first = np.argmax(trace.evaluated, axis=1) + 1
        np.testing.assert_array_equal(always.exit_layer, first)


@pytest.mark.parametrize("name", METHODS)
def test_cost_counts_exactly_the_components_evaluated(name: str, sentiment_dev) -> None:
    method, config, model = build(name)
    trace = record_trace(model, sentiment_dev, meta={})
    result = replay(trace, method.policy(config, 0.3))
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
