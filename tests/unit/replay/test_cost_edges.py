"""Cost arithmetic by hand (issue 31, item 4: tests that kill mutmut's survivors): a model's cost is
embeddings + layers x layer + heads x head + gates x gate in the convention asked for, the reference
is the plain forward, and the analytic layer formula reproduces the paper's 1811.8M per BERT-base layer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from smartbert.replay.cost import BackboneShape, ComponentCosts, analytic_layer_macs, flops_table

PAPER = {"embeddings": 1.0, "layer": 100.0, "pooler": 7.0, "pooled_classifier": 5.0, "exit_classifier": 10.0, "skip_gate": 3.0}
FVCORE = {"embeddings": 2.0, "layer": 50.0, "pooler": 9.0, "pooled_classifier": 2.0, "exit_classifier": 4.0, "skip_gate": 1.0}
COSTS = ComponentCosts(BackboneShape(12, 768, 12, 3072), 128, 2, PAPER, FVCORE)


def test_model_cost_adds_each_evaluated_component_once() -> None:
    assert COSTS.model_cost("paper", 3, 2, 4, "exit_classifier") == 1 + 3 * 100 + 2 * 10 + 4 * 3
    assert COSTS.model_cost("fvcore", 3, 2, 4, "exit_classifier") == 2 + 3 * 50 + 2 * 4 + 4 * 1
    assert COSTS.model_cost("paper", 0, 1, 0, "pooled_classifier") == 1 + 5
    per_example = COSTS.model_cost("paper", np.array([1, 2]), np.array([1, 1]), np.array([0, 5]), "exit_classifier")
    assert per_example.tolist() == [1 + 100 + 10, 1 + 200 + 10 + 15]


def test_reference_cost_is_every_layer_and_berts_classifier() -> None:
    assert COSTS.reference_cost("paper") == 1 + 12 * 100 + 5
    assert COSTS.reference_cost("fvcore") == 2 + 12 * 50 + 2
    assert COSTS.reference_cost("paper", 6) == 1 + 6 * 100 + 5


def test_an_unknown_convention_is_named() -> None:
    assert COSTS.of("paper") is PAPER and COSTS.of("fvcore") is FVCORE
    with pytest.raises(ValueError, match="unknown FLOPs convention 'macs'; known: paper, fvcore"):
        COSTS.of("macs")


def test_analytic_layer_macs_of_bert_base_by_hand() -> None:
    """4 s h^2 + 2 s h ffn (linear layers) + 2 s^2 h (attention matmuls) at s = 128, h = 768, ffn = 3072;
    twice the linear part is the paper's 1811.8M (Table 2)."""
    shape = BackboneShape(12, 768, 12, 3072)
    linear = 4 * 128 * 768**2 + 2 * 128 * 768 * 3072
    assert linear * 2 == 1_811_939_328
    assert analytic_layer_macs(shape, 128) == linear + 2 * 128**2 * 768 == 931_135_488
    assert analytic_layer_macs(BackboneShape(6, 384, 12, 1536), 16) == 4 * 16 * 384**2 + 2 * 16 * 384 * 1536 + 2 * 16**2 * 384


def test_shape_from_bert_and_distilbert_configs() -> None:
    bert = SimpleNamespace(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072, vocab_size=30522)
    assert BackboneShape.from_config(bert) == BackboneShape(12, 768, 12, 3072, 30522)
    distil = SimpleNamespace(n_layers=6, dim=768, n_heads=12, hidden_dim=3072, vocab_size=1000)
    assert BackboneShape.from_config(distil) == BackboneShape(6, 768, 12, 3072, 1000)
    assert BackboneShape(6, 384, 12, 1536).as_dict() == {"num_layers": 6, "hidden": 384, "heads": 12, "ffn": 1536,
                                                          "vocab_size": 30522}


def test_flops_table_lists_each_component_and_the_plain_model() -> None:
    rows = flops_table(COSTS)
    assert [r["component"] for r in rows] == ["embeddings", "layer", "pooler", "pooled_classifier", "exit_classifier",
                                              "skip_gate", "model (12 layers + classifier)"]
    assert rows[1] == {"component": "layer", "paper_flops": 100.0, "fvcore_macs": 50.0}
    assert rows[-1]["paper_flops"] == 1 + 1200 + 5 and rows[-1]["fvcore_macs"] == 2 + 600 + 2
