"""FLOPs against the analytic formula and the paper's Table 1-2 numbers."""

from __future__ import annotations

import pytest

from smartbert.modeling.backbones import KNOWN_SHAPES, backbone_shape
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import BackboneShape, analytic_layer_macs

BERT_BASE = KNOWN_SHAPES["bert-base-uncased"]


def test_paper_convention_reproduces_table_1_and_2() -> None:
    costs = component_costs(BERT_BASE, 128, 2)
    assert costs.paper["layer"] == pytest.approx(1811.9e6, rel=1e-3)       # Table 2: 1811.8M
    assert costs.reference_cost("paper") == pytest.approx(21744e6, rel=1e-3)  # Table 1: 21744M
    assert costs.paper["embeddings"] == 0  # no linear layer in the embeddings
    # the paper's small components: classifier 37.6M, gate 37.4M (ours count the same layers)
    assert costs.paper["exit_classifier"] == pytest.approx(37.6e6, rel=0.01)
    assert costs.paper["skip_gate"] == pytest.approx(37.4e6, rel=0.01)
    # FastBERT runs all 12 classifiers at full depth: Table 1 says 22196M (102%)
    assert costs.model_cost("paper", 12, 12, 0, "exit_classifier") == pytest.approx(22196e6, rel=2e-3)


@pytest.mark.parametrize("shape, seq_len", [(BERT_BASE, 128), (BERT_BASE, 64),
                                            (BackboneShape(6, 384, 12, 1536), 128), (BackboneShape(6, 384, 12, 1536), 16)])
def test_fvcore_layer_macs_match_the_analytic_formula(shape: BackboneShape, seq_len: int) -> None:
    costs = component_costs(shape, seq_len, 2)
    assert costs.fvcore["layer"] == pytest.approx(analytic_layer_macs(shape, seq_len), rel=0.01)
    # the attention matmuls (2 s^2 h) are counted: without the sdpa handler they would be missing
    linear_only = costs.paper["layer"] / 2
    assert costs.fvcore["layer"] - linear_only >= 2 * seq_len**2 * shape.hidden


def test_known_shapes_offline_and_bundled_minilm() -> None:
    assert backbone_shape("bert-base-uncased") == BERT_BASE
    assert backbone_shape("distilbert-base-uncased").num_layers == 6
    assert backbone_shape("minilm-l6") == BackboneShape(6, 384, 12, 1536)
