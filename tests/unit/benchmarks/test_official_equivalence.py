"""The equivalence harness's own logic (benchmarks/equivalence/), on two copies of our SmartBERT:
CI has no official checkout, so the parameter mapping, the term-by-term comparison and the decision
checks are proven here to pass on equal models and to fail on a perturbed term or a broken mapping."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from torch import nn

from smartbert.data.encode import collate
from smartbert.methods.registry import get_method
from smartbert.methods.smartbert import SmartBertConfig
from tests.helpers import REPO, tiny_bert

sys.path.insert(0, str(REPO / "benchmarks"))
from equivalence.compare import FP32, tensor_error  # noqa: E402
from equivalence.mapping import Link, Mapping, MappingError, check_mapping, copy_weights, identity_mapping  # noqa: E402
from equivalence.smartbert_pair import (  # noqa: E402
    OurSmartBert,
    Pair,
    decision_checks,
    link_models,
    official_mapping,
    padded_example,
    sharpen,
    stage1_checks,
    stage2_checks,
    zero_dropout,
)

OFFICIAL = {"loss_mixing": "official", "stage2_input": "raw", "stage2_contrast": "official", "stage1_contrast": "official",
            "contrast_padding": True, "dropout": 0.0}


def our_pair(perturb: str | None = None) -> Pair:
    """Our model and a second copy given its weights through the identity mapping (dropout off)."""
    config = SmartBertConfig(**OFFICIAL)
    torch.manual_seed(0)
    model = zero_dropout(get_method("smartbert").build(tiny_bert(0), 2, config))
    sharpen(model, heads=30.0, gates=40.0)
    other = copy.deepcopy(model)
    with torch.no_grad():  # a different start, so the copy has to come through the mapping
        for p in other.parameters():
            p.add_(1.0)
    theirs = OurSmartBert(other, config, "copy") if perturb is None else Perturbed(other, config, perturb)
    pair = Pair(OurSmartBert(model, config), theirs, identity_mapping(model), FP32)
    link_models(pair)
    return pair


class Perturbed(OurSmartBert):
    """The copy with one stage-1 term scaled by 1 + 1e-3 (100 x the loss tolerance, 10 x the gradients')."""

    def __init__(self, model, config, term: str) -> None:
        super().__init__(model, config, "perturbed")
        self.term = term

    def stage1(self, batch, hard, term):
        value = super().stage1(batch, hard, term)
        return value * (1 + 1e-3) if term == self.term else value


@pytest.fixture(scope="module")
def batch(sentiment_dev):
    return padded_example(collate(sentiment_dev, list(range(4))), 32)


def failing(rows) -> set[tuple[str, str]]:
    return {(row.group, row.name.split(" (")[0]) for row in rows if not row.ok}


def test_two_copies_agree_on_every_term_gradient_and_decision(batch, sentiment_dev) -> None:
    pair = our_pair()
    rows1, every1 = stage1_checks(pair, batch, "tiny")
    rows2, every2 = stage2_checks(pair, batch, "tiny")
    assert not failing(rows1 + rows2)
    parameters = len(list(pair.ours.model.parameters()))
    assert len(every1) == 2 * 3 * parameters and len(every2) == 3 * parameters
    examples = [collate(sentiment_dev, [i]) for i in range(6)]
    for threshold, gates in ((0.3, True), (0.0, False)):
        ours = [pair.ours.infer(x, threshold, gates) for x in examples]
        rows = decision_checks("inference", ours, [pair.theirs.infer(x, threshold, gates) for x in examples], FP32)
        rows += decision_checks("replay", pair.ours.replay_decisions(sentiment_dev.subset(range(6)), threshold, gates), ours, FP32)
        assert not failing(rows)


def test_a_perturbed_term_fails_its_checks_and_only_those(batch) -> None:
    rows, _ = stage1_checks(our_pair(perturb="ccl"), batch, "tiny", modes=(True,))
    assert failing(rows) == {("tiny stage 1 hard", "ccl"), ("tiny stage 1 hard grad[ccl]", "161 parameters")}


def test_a_changed_weight_shows_in_losses_and_gradients(batch) -> None:
    pair = our_pair()
    with torch.no_grad():
        pair.theirs.model.gates[1].out.bias.add_(1e-3)
    rows, _ = stage1_checks(pair, batch, "tiny", modes=(False,))
    assert ("tiny stage 1 soft", "skip") in failing(rows) and ("tiny stage 1 soft grad[total]", "161 parameters") in failing(rows)


def test_the_mapping_is_checked_by_names_counts_and_shapes() -> None:
    a, b = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    counts = check_mapping(identity_mapping(a), a, b)
    assert counts["ours_parameters"] == counts["theirs_linked_parameters"] == 4 * 3 + 3 + 3 * 2 + 2
    with pytest.raises(MappingError, match="not linked"):
        check_mapping(Mapping(identity_mapping(a).links[1:]), a, b)
    with pytest.raises(MappingError, match="copy 0.weight"):
        check_mapping(Mapping([Link("0.weight", ("1.weight",)), Link("1.weight", ("0.weight",)),
                               Link("0.bias", ("0.bias",)), Link("1.bias", ("1.bias",))]), a, b)


def test_fused_qkv_and_tied_links_copy_and_gather_gradients() -> None:
    ours = nn.ModuleDict({"qkv": nn.Linear(2, 6), "shared": nn.Linear(2, 2)})
    theirs = nn.ModuleDict({k: nn.Linear(2, 2) for k in ("q", "k", "v", "s0", "s1")})
    mapping = Mapping([Link("qkv.weight", ("q.weight", "k.weight", "v.weight"), "qkv"),
                       Link("qkv.bias", ("q.bias", "k.bias", "v.bias"), "qkv"),
                       Link("shared.weight", ("s0.weight", "s1.weight"), "tied"), Link("shared.bias", ("s0.bias", "s1.bias"), "tied")])
    assert check_mapping(mapping, ours, theirs)["tied_copies"] == 2
    copy_weights(mapping, ours, theirs)
    assert torch.equal(theirs["k"].weight, ours["qkv"].weight[2:4]) and torch.equal(theirs["s1"].bias, ours["shared"].bias)
    x = torch.randn(3, 2)
    ours["shared"](ours["shared"](x)).sum().backward()
    theirs["s1"](theirs["s0"](x)).sum().backward()
    from equivalence.mapping import their_gradients

    assert tensor_error(ours["shared"].weight.grad, their_gradients(mapping, theirs)["shared.weight"]) < 1e-6


@pytest.mark.parametrize("options", [OFFICIAL, {}])
def test_every_parameter_of_ours_has_an_official_counterpart(options) -> None:
    """The links to the official code's names exist for every parameter (the official and the paper layouts)."""
    model = get_method("smartbert").build(tiny_bert(0), 2, SmartBertConfig(**options))
    mapping = official_mapping(model)
    names = {n for link in mapping.links for n in link.theirs} | set(mapping.unused)
    assert len(mapping.links) == len(list(model.parameters()))
    assert "gate.3.atten.value.bias" in names and "classifier.0.output_layer_2.weight" in names
    assert ("contrast.3.3.bias" in names) and ("classifier.1.main.3.weight" in names)
    kinds = {link.kind for link in mapping.links}
    assert kinds == ({"copy", "qkv"} if options else {"copy", "qkv", "tied"})
