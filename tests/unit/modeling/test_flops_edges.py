"""FLOPs of each component by hand (issue 31, item 4: tests that kill mutmut's survivors). The paper's
convention is 2 x the MACs of the linear layers (README, "FLOPs conventions"); fvcore's adds the
attention matmuls, 2 s^2 x width per attention, through the handler for scaled-dot-product attention."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from smartbert.modeling.flops import component_costs, trace_costs
from smartbert.modeling.flops_count import sdpa_flop_jit
from smartbert.replay.cost import BackboneShape
from smartbert.replay.trace import TraceMeta

SHAPE = BackboneShape(num_layers=2, hidden=32, heads=2, ffn=64, vocab_size=100)
S, H, FFN, W, LABELS = 16, 32, 64, 128, 3  # tokens, width, feed-forward, the heads' narrow width, labels


def test_each_component_by_hand() -> None:
    """Linear MACs: layer 4 s h^2 + 2 s h ffn; pooler h^2 on [CLS]; BERT's classifier h^2 + h C; exit
    classifier s h w + 3 s w^2 (fused Q, K, V) + w^2 + w C on [CLS]; gate s h w + 3 s w^2 + w."""
    costs = component_costs(SHAPE, S, LABELS)
    linear = {"layer": 4 * S * H * H + 2 * S * H * FFN, "pooler": H * H, "pooled_classifier": H * H + H * LABELS,
              "exit_classifier": S * H * W + 3 * S * W * W + W * W + W * LABELS, "skip_gate": S * H * W + 3 * S * W * W + W}
    for name, macs in linear.items():
        assert costs.paper[name] == 2 * macs, name
    assert costs.paper["embeddings"] == 0
    attention = 2 * S * S * W  # Q K^T and softmax(.) V of the narrow attention
    assert costs.fvcore["pooler"] == H * H and costs.fvcore["pooled_classifier"] == H * H + H * LABELS
    assert costs.fvcore["exit_classifier"] == linear["exit_classifier"] + attention
    assert costs.fvcore["skip_gate"] == linear["skip_gate"] + attention
    assert costs.fvcore["layer"] >= linear["layer"] + 2 * S * S * H  # + layer norms
    assert costs.fvcore["embeddings"] == 5 * S * H  # its layer norm over one example: fvcore counts 5 per element
    assert (costs.shape, costs.seq_len, costs.num_labels) == (SHAPE, S, LABELS)


def test_a_component_is_counted_at_the_sequence_length_asked_for() -> None:
    short = component_costs(SHAPE, 8, LABELS)
    assert short.paper["layer"] == 2 * (4 * 8 * H * H + 2 * 8 * H * FFN)
    assert short.paper["pooler"] == 2 * H * H  # [CLS] only: independent of the length
    with pytest.raises(ValueError, match="sequence length must be positive, got 0"):
        component_costs(SHAPE, 0, LABELS)


def test_trace_costs_use_the_traced_backbone_length_and_labels() -> None:
    meta = TraceMeta(num_layers=2, num_labels=LABELS, head_kind="exit_classifier", exit_layers=[1, 2],
                     shape=SHAPE.as_dict(), max_seq_len=S)
    costs = trace_costs(meta)
    assert (costs.shape, costs.seq_len, costs.num_labels) == (SHAPE, S, LABELS)
    assert costs.paper["pooled_classifier"] == 2 * (H * H + H * LABELS)
    assert trace_costs(meta, seq_len=8).seq_len == 8


class _Value:
    """What fvcore's ``get_shape`` reads from a traced value."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = list(sizes)

    def isCompleteTensor(self) -> bool:  # noqa: N802 (TorchScript's name)
        return True

    def type(self) -> SimpleNamespace:
        return SimpleNamespace(sizes=lambda: self.sizes)


def test_sdpa_handler_counts_both_matmuls() -> None:
    """[batch..., s_q, d] x [.., s_k, d]^T and [.., s_q, s_k] x [.., s_k, d_v]: batch x s_q x s_k x (d + d_v)."""
    assert sdpa_flop_jit([_Value(1, 2, 16, 8), _Value(1, 2, 16, 8), _Value(1, 2, 16, 8)], []) == 2 * 16 * 16 * 16
    assert sdpa_flop_jit([_Value(2, 3, 5, 4), _Value(2, 3, 7, 4), _Value(2, 3, 7, 6), _Value(1)], []) == 2 * 3 * 5 * 7 * (4 + 6)
    assert sdpa_flop_jit([_Value(2, 5, 4), _Value(2, 7, 4), _Value(2, 7, 6)], []) == 2 * 5 * 7 * (4 + 6)  # no head axis
