"""SmartBERT's training losses against a plain reference: the equations written loop by loop (one
contrastive pair, one projection, one gate mean at a time, as the suite computed them up to
7f03322), on a fixed batch with dropout off. The library computes every pair and layer at once
(fewer operators per step, issue 32); its losses and every gradient must stay the same."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from smartbert.methods.registry import get_method
from smartbert.methods.smartbert import SmartBertConfig, gated_pass, stage1_loss, stage2_inputs, stage2_loss
from smartbert.modeling.encoder import additive_mask
from smartbert.modeling.losses import hard_gate
from tests.helpers import tiny_bert

RTOL_LOSS, RTOL_GRAD = 1e-5, 1e-4  # fp32 (issue 33's tolerances)


def reference_pair(lower, upper, attention_mask, temperature, positive_in_denominator=True):
    """Eq. 4 (eq. 5 for stage 2) for one pair of [B, N, d] representations, token by token in matrix form."""
    a, b = F.normalize(lower, dim=-1), F.normalize(upper, dim=-1)
    scores = torch.bmm(a, b.transpose(1, 2)) / temperature
    n = scores.shape[-1]
    valid = torch.ones(scores.shape[0], n, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    blocked = ~valid[:, None, :]
    if not positive_in_denominator:
        blocked = blocked | torch.eye(n, dtype=torch.bool)
    positive = scores.diagonal(dim1=1, dim2=2)
    denominator = torch.logsumexp(scores.masked_fill(blocked, float("-inf")), dim=-1)
    per_token = (denominator - positive).masked_fill(~valid, 0.0)
    return (per_token.sum(-1) / valid.sum(-1).clamp_min(1)).mean()


def reference_mean(states, attention_mask, temperature, positive_in_denominator=True):
    """Eqs. 4 and 6: the mean over consecutive pairs."""
    return torch.stack([reference_pair(states[i], states[i + 1], attention_mask, temperature, positive_in_denominator)
                        for i in range(len(states) - 1)]).mean()


def reference_stage1(model, batch, config: SmartBertConfig, hard: bool):
    """Eq. 3 with eq. 1 (soft) or eqs. 11-12 (hard), one layer, projection and pair at a time."""
    hidden = model.encoder.embed(batch["input_ids"], batch["token_type_ids"])
    mask = additive_mask(batch["attention_mask"], hidden.dtype)
    states, probs = [], []
    for i in range(model.num_layers):
        prob = model.gate_modules()[i](hidden, mask)
        weight = (hard_gate(prob) if hard else prob)[:, None, None]
        hidden = weight * hidden + (1.0 - weight) * model.encoder.layer(i, hidden, mask)
        states.append(hidden)
        probs.append(prob)
    ce = F.cross_entropy(model.head(model.num_layers)(hidden, mask), batch["labels"])
    reg = config.lam / torch.stack([p.mean() for p in probs]).sum().clamp_min(1e-6)
    project = model.extras["stage1_projection"]
    ccl = reference_mean([project(s) for s in states], batch["attention_mask"], config.t1)
    return ce + reg + config.eta1 * ccl, {"ce": ce, "skip_reg": reg, "ccl": ccl}


def reference_stage2(model, batch, config: SmartBertConfig):
    """Eq. 8 (paper options): classifiers 1..L-1 on the gated X^i, CCL over their H^i (eqs. 5-6)."""
    inputs = torch.stack(gated_pass(model, batch, hard=True).states, dim=2).detach()
    mask = additive_mask(batch["attention_mask"], inputs.dtype)
    ce_terms, features = [], []
    for i in range(model.num_layers):
        head = model.head(i + 1)
        states = head.token_states(inputs[:, :, i], mask)
        if i < model.num_layers - 1:
            ce_terms.append(F.cross_entropy(head.classify(states), batch["labels"]))
        features.append(model.extras["stage2_projection"](states))
    ce = torch.stack(ce_terms).sum()
    ccl = reference_mean(features, batch["attention_mask"], config.t2)
    return ce + config.eta2 * ccl, {"ce_sum": ce, "ccl": ccl}


def fixed_batch(seed: int = 3):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (6, 12), generator=generator)
    mask = torch.ones(6, 12, dtype=torch.long)
    mask[1, 7:], mask[4, 3:] = 0, 0
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask,
            "labels": torch.tensor([0, 1, 1, 0, 1, 0]), "index": torch.arange(6)}


def model_without_dropout(config: SmartBertConfig):
    torch.manual_seed(0)
    model = get_method("smartbert").build(tiny_bert(0), 2, config)
    model.train()
    for module in model.modules():  # dropout off: both computations see the same function
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "dropout", None), float):  # the narrow attention's dropout_p
            module.dropout = 0.0
    return model


def losses_and_gradients(model, loss_fn):
    model.zero_grad(set_to_none=True)
    total, terms = loss_fn()
    total.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return total.detach(), {k: v.detach() for k, v in terms.items()}, grads


def assert_same(ours, reference) -> None:
    total, terms, grads = ours
    ref_total, ref_terms, ref_grads = reference
    torch.testing.assert_close(total, ref_total, rtol=RTOL_LOSS, atol=0)
    for name, value in ref_terms.items():
        torch.testing.assert_close(terms[name], value, rtol=RTOL_LOSS, atol=0, msg=f"loss term {name}")
    assert grads.keys() == ref_grads.keys()
    # entries that are zero in exact arithmetic (e.g. a key bias: softmax ignores it) are rounding noise:
    # absolute slack of 1e-6 of the largest gradient anywhere
    floor = 1e-6 * max(float(value.abs().max()) for value in ref_grads.values())
    for name, value in ref_grads.items():
        torch.testing.assert_close(grads[name], value, rtol=RTOL_GRAD, atol=floor, msg=f"gradient of {name}")


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_stage1_losses_and_gradients_equal_the_reference(hard: bool) -> None:
    config = SmartBertConfig(lam=0.1, eta1=0.3, gate_mode="hard" if hard else "soft")
    model, batch = model_without_dropout(config), fixed_batch()
    ours = losses_and_gradients(model, lambda: stage1_loss(config)(model, batch, 0))
    reference = losses_and_gradients(model, lambda: reference_stage1(model, batch, config, hard))
    assert float(reference[1]["ccl"]) > 0 and len(reference[2]) > 20
    assert_same(ours, reference)


def test_stage2_losses_and_gradients_equal_the_reference() -> None:
    config = SmartBertConfig(eta2=0.4)
    model, batch = model_without_dropout(config), fixed_batch()
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in range(1, model.num_layers):
        for p in model.head(layer).parameters():
            p.requires_grad_(True)
    for p in model.extras["stage2_projection"].parameters():
        p.requires_grad_(True)
    batch["frozen"] = stage2_inputs(config)(model, batch)
    ours = losses_and_gradients(model, lambda: stage2_loss(config)(model, batch, 0))
    reference = losses_and_gradients(model, lambda: reference_stage2(model, batch, config))
    assert_same(ours, reference)


def test_the_comparison_sees_a_perturbed_term() -> None:
    """The tolerance is tight enough to see a 0.1% change in one loss term."""
    config = SmartBertConfig(lam=0.1, eta1=0.3, gate_mode="soft")
    model, batch = model_without_dropout(config), fixed_batch()
    reference = losses_and_gradients(model, lambda: reference_stage1(model, batch, config, False))

    def perturbed():
        total, terms = reference_stage1(model, batch, config, False)
        return total + 1e-3 * config.eta1 * terms["ccl"], {**terms, "ccl": terms["ccl"] * 1.001}

    with pytest.raises(AssertionError):
        assert_same(losses_and_gradients(model, perturbed), reference)
