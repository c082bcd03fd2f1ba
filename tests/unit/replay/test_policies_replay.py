"""Each exit policy replayed on a hand-built trace, with its component counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartbert.core.errors import SmartBertError, UnknownNameError
from smartbert.replay.policies import POLICIES, make_policy, softmax_entropy
from smartbert.replay.trace import Trace, TraceMeta, replay

NAN = np.nan
CONFIDENT, UNSURE = [4.0, 0.0], [0.1, 0.0]   # entropies ~0.090 and ~0.692 nats
CONF_B = [0.0, 4.0]


def hand_trace() -> Trace:
    """3 examples x 4 layers, exit heads everywhere, gates on.

    ex0: all layers run; unsure, confident(A), confident(A), confident(A)
    ex1: layer 2 skipped (no head there); unsure, -, unsure, confident(B) at the last layer
    ex2: every layer skipped; only the last head is evaluated (on the embeddings)
    """
    ran = np.array([[1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 0, 0]], dtype=bool)
    evaluated = ran.copy()
    evaluated[:, -1] = True
    logits = np.full((3, 4, 2), NAN, dtype=np.float32)
    logits[0] = [UNSURE, CONFIDENT, CONFIDENT, CONFIDENT]
    logits[1, [0, 2, 3]] = [UNSURE, UNSURE, CONF_B]
    logits[2, 3] = CONFIDENT
    gate_prob = np.where(ran, 0.1, 0.9).astype(np.float32)
    return Trace(np.array([0, 1, 0]), ran, evaluated, logits, gate_prob, np.array([10, 12, 3]),
                 TraceMeta(has_gates=True, task="RTE", num_layers=4, num_labels=2, head_kind="exit_classifier",
                           exit_layers=[1, 2, 3, 4]))


def test_entropy_helper() -> None:
    assert softmax_entropy(np.array([0.0, 0.0])) == pytest.approx(math.log(2))
    assert softmax_entropy(np.array([4.0, 0.0])) == pytest.approx(0.0901, abs=1e-3)


def test_entropy_exit_at_0_3() -> None:
    result = replay(hand_trace(), make_policy("entropy", 0.3))
    assert result.exit_layer.tolist() == [2, 4, 4]
    assert result.prediction.tolist() == [0, 1, 0]
    assert result.layers_run.tolist() == [2, 3, 0]
    assert result.heads.tolist() == [2, 3, 1]
    assert result.gates.tolist() == [2, 4, 4]
    assert result.layers_skipped.tolist() == [0, 1, 4]


def test_huge_threshold_exits_at_first_evaluated_head_and_zero_never_exits_early() -> None:
    trace = hand_trace()
    early = replay(trace, make_policy("entropy", 1e9))
    assert early.exit_layer.tolist() == [1, 1, 4] and early.heads.tolist() == [1, 1, 1]
    late = replay(trace, make_policy("entropy", 0.0))
    assert late.exit_layer.tolist() == [4, 4, 4] and late.layers_run.tolist() == [4, 3, 0]


def test_normalised_entropy_divides_by_ln_labels() -> None:
    trace = hand_trace()
    # unsure heads have entropy/ln2 ~ 0.999: 0.99 keeps them, 1.0 lets them out
    assert replay(trace, make_policy("normalised_entropy", 0.99)).exit_layer.tolist() == [2, 4, 4]
    assert replay(trace, make_policy("normalised_entropy", 1.0)).exit_layer.tolist() == [1, 1, 4]


def test_patience_counts_agreeing_evaluated_heads() -> None:
    trace = hand_trace()
    # ex0 predictions A(unsure: 0.1 > 0), A, A, A -> agreement counter 1 at layer 2, 2 at layer 3
    assert replay(trace, make_policy("patience", 1)).exit_layer.tolist() == [2, 3, 4]
    assert replay(trace, make_policy("patience", 2)).exit_layer.tolist() == [3, 4, 4]
    # ex1: A (layer 1), A (layer 3) agree across the skipped layer 2; B at layer 4 resets


def test_no_exit_is_full_depth() -> None:
    result = replay(hand_trace(), make_policy("none"))
    assert result.exit_layer.tolist() == [4, 4, 4] and result.prediction.tolist() == [0, 1, 0]


def test_trace_save_load_round_trip(tmp_path) -> None:
    trace = hand_trace()
    trace.save(tmp_path / "t.npz")
    loaded = Trace.load(tmp_path / "t.npz")
    assert loaded.meta == trace.meta
    np.testing.assert_array_equal(loaded.logits, trace.logits)
    np.testing.assert_array_equal(loaded.ran, trace.ran)
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


@pytest.mark.parametrize("name, value, message", [
    ("entropy", -0.1, "entropy threshold S must be a number >= 0"),
    ("entropy", float("nan"), "must be a number"),
    ("normalised_entropy", 1.5, r"\[0, 1.0\]"),
    ("patience", 0, "positive integer"),
    ("entropy", None, "needs a threshold"),
])
def test_bad_thresholds_are_rejected(name: str, value, message: str) -> None:
    with pytest.raises(SmartBertError, match=message):
        make_policy(name, value)


def test_unknown_policy() -> None:
    with pytest.raises(UnknownNameError, match="unknown exit policy 'fast'"):
        make_policy("fast", 0.1)


@pytest.mark.parametrize("name, threshold", [("entropy", 0.3), ("normalised_entropy", 0.4), ("none", None)])
def test_exits_at_last_is_the_last_column_of_exit_mask_at_every_prefix(name: str, threshold) -> None:
    """Dynamic inference asks ``exits_at_last`` at each layer, which policies that do not look back
    answer from the last layer alone; replay uses ``exit_mask``: they must agree bit for bit."""
    assert make_policy("patience", 2).looks_back  # patience answers from the whole prefix (exit_mask itself)
    policy = make_policy(name, threshold)
    assert not policy.looks_back
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(64, 6, 3)).astype(np.float32)
    evaluated = rng.random((64, 6)) < 0.7
    logits[~evaluated] = NAN
    for layer in range(1, 7):
        expected = policy.exit_mask(logits[:, :layer], evaluated[:, :layer])[:, -1]
        np.testing.assert_array_equal(policy.exits_at_last(logits[:, :layer], evaluated[:, :layer]), expected)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_owns_its_threshold(name: str) -> None:
    """Name, domain, default Table 1 points and formatting live on the policy (issue 17, item 1)."""
    from smartbert.replay.policies import check_table_thresholds

    cls = POLICIES[name]
    points = cls.table_thresholds()
    if cls.is_static():
        assert cls.knob is None and points == [None] and cls.format_threshold(None) == "" and cls.table_middle() is None
        assert isinstance(make_policy(name, 0.7), cls)  # a static policy ignores any threshold
        with pytest.raises(SmartBertError, match="takes no threshold"):
            check_table_thresholds({name: [0.1]})
        return
    assert points and cls.table_middle() in points
    for value in points:
        assert isinstance(make_policy(name, value), cls)
        assert cls.format_threshold(value).startswith(f"{cls.knob}=")
    assert cls.table_thresholds({name: [points[0]]}) == [points[0]]  # a profile's points replace the defaults
    assert cls.table_thresholds({"some_other_policy": [9]}) == points
    with pytest.raises(SmartBertError):
        check_table_thresholds({name: [-1]})
    with pytest.raises(SmartBertError, match="needs a threshold"):
        make_policy(name, None)
