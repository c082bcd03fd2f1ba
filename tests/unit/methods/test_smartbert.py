"""SmartBERT's mechanisms: hard weights, the contrastive loss, frozen stage 1, SP schedule."""

from __future__ import annotations

import math

import pytest
import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.encode import collate
from smartbert.data.tasks import get_task
from smartbert.methods.registry import get_method
from smartbert.methods.smartbert import SmartBertConfig
from smartbert.modeling.losses import (
    cross_layer_contrastive,
    hard_gate,
    skip_regulariser,
)
from smartbert.training.config import TrainConfig
from smartbert.training.trainer import train_stage
from tests.helpers import tiny_bert


def smartbert(config: SmartBertConfig | None = None, seed: int = 0):
    method = get_method("smartbert")
    config = config or SmartBertConfig()
    torch.manual_seed(seed)
    return method, config, method.build(tiny_bert(seed), 2, config)


def test_hard_gate_is_exactly_binary_forward_and_soft_backward() -> None:
    logits = torch.tensor([-2.0, -0.01, 0.0, 0.3, 5.0], requires_grad=True)
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    hard = hard_gate(torch.sigmoid(logits))
    assert hard.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # G >= 0.5 skips (eq. 9)
    (hard * weights).sum().backward()
    hard_grad = logits.grad.clone()
    logits.grad = None
    (torch.sigmoid(logits) * weights).sum().backward()
    torch.testing.assert_close(hard_grad, logits.grad, rtol=0, atol=0)


def test_skip_regulariser() -> None:
    probs = [torch.tensor([0.2, 0.4]), torch.tensor([0.5, 0.5])]
    assert float(skip_regulariser(probs, 0.05)) == pytest.approx(0.05 / (0.3 + 0.5))


def test_contrastive_loss_equals_a_hand_computation() -> None:
    lower = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    upper = torch.tensor([[[1.0, 1.0], [0.0, 2.0]]])
    t = 0.5
    # cosines: s(l0,u0)=1/sqrt2, s(l0,u1)=0, s(l1,u0)=1/sqrt2, s(l1,u1)=1
    c = 1 / math.sqrt(2)
    token0 = -math.log(math.exp(c / t) / (math.exp(c / t) + math.exp(0.0)))
    token1 = -math.log(math.exp(1 / t) / (math.exp(c / t) + math.exp(1 / t)))
    assert float(cross_layer_contrastive(lower, upper, None, t)) == pytest.approx((token0 + token1) / 2, rel=1e-6)
    # official stage-2 variant: negatives only in the denominator
    token0_neg = -math.log(math.exp(c / t) / math.exp(0.0))
    token1_neg = -math.log(math.exp(1 / t) / math.exp(c / t))
    assert float(cross_layer_contrastive(lower, upper, None, t, positive_in_denominator=False)) == pytest.approx(
        (token0_neg + token1_neg) / 2, rel=1e-6)


def test_contrastive_loss_is_lowest_when_consecutive_layers_agree_and_ignores_padding() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 7, 16)
    same = cross_layer_contrastive(x, x, None, 0.5)
    assert same < cross_layer_contrastive(x, torch.randn(3, 7, 16), None, 0.5)
    assert same < cross_layer_contrastive(x, x[:, torch.randperm(7)], None, 0.5)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[:, 7:] = 0
    padded = lambda t: torch.cat([t, torch.randn(3, 2, 16) * 10], dim=1)  # noqa: E731
    y = torch.randn(3, 7, 16)
    assert float(cross_layer_contrastive(padded(x), padded(y), mask, 0.5)) == pytest.approx(
        float(cross_layer_contrastive(x, y, None, 0.5)), rel=1e-5)


def test_sp_schedule_and_config_errors() -> None:
    assert [SmartBertConfig().hard_at(e) for e in range(5)] == [False, False, False, True, True]
    assert not any(SmartBertConfig(gate_mode="soft").hard_at(e) for e in range(5))
    assert all(SmartBertConfig(gate_mode="hard").hard_at(e) for e in range(5))
    with pytest.raises(SmartBertError, match="gate_mode"):
        SmartBertConfig(gate_mode="medium")
    with pytest.raises(SmartBertError, match="soft_epochs"):
        SmartBertConfig(soft_epochs=9)
    with pytest.raises(SmartBertError, match=r"t1 must be > 0 \(temperature tau of eq. 4"):
        SmartBertConfig(t1=0)


def test_in_hard_mode_a_skipped_layer_gets_no_gradient(sentiment_dev) -> None:
    method, config, model = smartbert(SmartBertConfig(gate_mode="hard"))
    with torch.no_grad():  # gate 2 skips every example, the others run
        for i, gate in enumerate(model.gates):
            gate.out.weight.zero_()
            gate.out.bias.fill_(20.0 if i == 1 else -20.0)
    stage1 = method.stages(config)[0]
    model.train()
    loss, _ = stage1.loss(model, collate(sentiment_dev, list(range(8))), 0)
    loss.backward()
    grads = lambda layer: [p.grad for p in model.encoder.layers[layer].parameters()]  # noqa: E731
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads(1))
    assert all(g is not None and torch.count_nonzero(g) > 0 for g in grads(2))
    # the skipped gate still learns through the straight-through (soft) gradient
    assert model.gates[1].narrow.weight.grad is not None


def test_soft_mode_mixes_layers_and_every_layer_learns(sentiment_dev) -> None:
    method, config, model = smartbert(SmartBertConfig(gate_mode="soft"))
    model.train()
    loss, terms = method.stages(config)[0].loss(model, collate(sentiment_dev, list(range(8))), 0)
    loss.backward()
    assert set(terms) == {"ce", "skip_reg", "ccl", "mean_gate"}
    for layer in model.encoder.layers:
        assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in layer.parameters())


def test_stage2_leaves_every_stage1_parameter_bit_identical(sentiment_dev) -> None:
    method, config, model = smartbert(SmartBertConfig(stage2_epochs=1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stage2 = method.stages(config)[1]
    train_stage(model, stage2, sentiment_dev, sentiment_dev.subset(range(16)), get_task("synthetic-sentiment"),
                TrainConfig(batch_size=16, learning_rate=1e-3), progress=False)
    after = model.state_dict()
    trained = lambda key: key.startswith("heads.") and not key.startswith(f"heads.{model.num_layers}.") or key.startswith("extras.stage2")  # noqa: E731
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(trained(k) for k in changed), sorted(changed - {k for k in changed if trained(k)})
    assert any(k.startswith("heads.1.") for k in changed)


@pytest.mark.parametrize("options", [
    {"loss_mixing": "official", "stage2_input": "raw", "stage2_contrast": "official", "contrast_padding": True,
     "stage1_contrast": "official"},
    {"gate_mode": "soft", "stage2_input": "raw"},
])
def test_official_fidelity_options_train(options, sentiment_dev) -> None:
    method, config, model = smartbert(SmartBertConfig(**options))
    batch = collate(sentiment_dev, list(range(8)))
    model.train()
    for stage in method.stages(config):
        loss, terms = stage.loss(model, batch, 4)
        assert torch.isfinite(loss)
        loss.backward()
    # stage 2 reads the raw layer outputs E_i(X^{i-1}): the same classifiers on the gated X^i give other logits
    scores = method.stages(config)[1].score_logits(model.eval(), batch)
    assert scores.shape == (8, model.num_layers - 1, 2)
    gated = method.stages(SmartBertConfig(**{**options, "stage2_input": "gated"}))[1].score_logits(model, batch)
    assert not torch.allclose(scores, gated, atol=1e-4), "raw and gated stage-2 inputs give the same logits"
    assert torch.equal(scores, method.stages(config)[1].score_logits(model, batch))  # and not by chance: deterministic in eval
