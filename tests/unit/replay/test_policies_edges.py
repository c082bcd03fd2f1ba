"""Exit policies at their edges (issue 31, item 4: tests that kill mutmut's survivors): strict
inequalities of eqs. 10 and FastBERT's rule at the threshold itself, PABEE's counter on disagreement,
extreme logits, the skip-only policy's head count, thresholds named and checked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartbert.core.errors import SmartBertError
from smartbert.replay.policies import (
    EntropyExit,
    NoExit,
    NormalisedEntropyExit,
    PatienceExit,
    check_table_thresholds,
    make_policy,
    softmax_entropy,
)
from smartbert.replay.trace import replay
from tests.helpers import trace_from_predictions


def test_entropy_of_extreme_logits_is_computed_stably() -> None:
    """Shifting by the max keeps exp() finite: [1000, 0] is certain (entropy 0), [1000, 1000] uniform (ln 2)."""
    certain = softmax_entropy(np.array([1000.0, 0.0]))
    assert np.isfinite(certain) and certain == pytest.approx(0.0, abs=1e-12)
    assert softmax_entropy(np.array([1000.0, 1000.0])) == pytest.approx(math.log(2))
    assert softmax_entropy(np.array([-1000.0, -1000.0, -1000.0])) == pytest.approx(math.log(3))


def test_entropy_rule_is_strict_at_the_threshold() -> None:
    """Eq. 10 exits iff entropy < S: a head whose entropy equals S stays in (S = 0: never early)."""
    logits = np.array([[[1000.0, 0.0], [0.0, 0.0]]])  # entropy 0 exactly, then ln 2 exactly
    evaluated = np.ones((1, 2), dtype=bool)
    assert EntropyExit(0.0).exit_mask(logits, evaluated).tolist() == [[False, False]]
    assert EntropyExit(math.log(2)).exit_mask(logits, evaluated).tolist() == [[True, False]]
    assert EntropyExit(0.7).exit_mask(logits, evaluated).tolist() == [[True, True]]


def test_normalised_entropy_rule_is_strict_at_the_threshold() -> None:
    """FastBERT's speed: entropy / ln C < S; a uniform head (exactly 1) stays in at S = 1, a certain one at S = 0."""
    logits = np.array([[[1000.0, 0.0], [0.0, 0.0]]])  # normalised entropy 0, then ln 2 / ln 2 = 1
    evaluated = np.ones((1, 2), dtype=bool)
    assert NormalisedEntropyExit(0.0).exit_mask(logits, evaluated).tolist() == [[False, False]]
    assert NormalisedEntropyExit(1.0).exit_mask(logits, evaluated).tolist() == [[True, False]]


def test_entropy_rules_never_fire_where_no_head_was_evaluated() -> None:
    logits = np.array([[[4.0, 0.0], [np.nan, np.nan]]])
    evaluated = np.array([[True, False]])
    for policy in (EntropyExit(1e9), NormalisedEntropyExit(1.0)):
        assert policy.exit_mask(logits, evaluated).tolist() == [[True, False]]


def test_patience_resets_when_the_prediction_changes() -> None:
    """PABEE (counter reaches t): A A B B B B exits at layer 5 with t = 2 (the B run restarts the
    count at layer 3) and at layer 4 with t = 1; A B B exits at 3 with t = 1, never at 2."""
    trace = trace_from_predictions([0, 0], [[0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0]])
    assert replay(trace, PatienceExit(2)).exit_layer.tolist() == [5, 6]
    assert replay(trace, PatienceExit(1)).exit_layer.tolist() == [2, 3]
    assert replay(trace, PatienceExit(1)).prediction.tolist() == [0, 1]


def test_patience_first_head_never_counts_as_agreement() -> None:
    """The counter starts at 0 at the first evaluated head, whichever class it predicts."""
    trace = trace_from_predictions([1, 0, 1], [[1, 1, 1], [0, 0, 0], [None, 1, 1]])
    mask = PatienceExit(1).exit_mask(trace.logits, trace.evaluated)
    assert mask.tolist() == [[False, True, True], [False, True, True], [False, False, True]]


def test_patience_exits_at_last_reads_the_whole_prefix() -> None:
    """Dynamic inference asks patience at each layer with the heads so far: A B B at t = 1 exits
    at layer 3 only, which needs layers 1-2 (the last column alone would not know)."""
    trace = trace_from_predictions([0], [[0, 1, 1]])
    policy = PatienceExit(1)
    answers = [bool(policy.exits_at_last(trace.logits[:, :k], trace.evaluated[:, :k])[0]) for k in (1, 2, 3)]
    assert answers == [False, False, True]


def test_skip_only_reads_the_last_head_only() -> None:
    """NoExit counts one head per example (the last), whatever the trace evaluated."""
    evaluated = np.array([[True, True, True], [True, False, True]])
    assert NoExit().heads_read(evaluated).tolist() == [[False, False, True], [False, False, True]]
    assert EntropyExit(0.1).heads_read(evaluated).tolist() == evaluated.tolist()
    trace = trace_from_predictions([0, 1], [[0, 0, 0], [0, None, 1]])
    result = replay(trace, NoExit())
    assert result.heads.tolist() == [1, 1] and result.exit_layer.tolist() == [3, 3]
    assert NoExit().exit_mask(trace.logits, trace.evaluated).dtype == bool


def test_thresholds_are_named_as_tables_print_them() -> None:
    assert PatienceExit.format_threshold(4.0) == "patience=4"
    assert PatienceExit.format_threshold(1_000_000) == "patience=1000000"  # the grid's "never", not 1e+06
    assert EntropyExit.format_threshold(0.3) == "S=0.3"
    assert NormalisedEntropyExit.format_threshold(1.0) == "S=1"
    with pytest.raises(ValueError, match="EntropyExit names a point by its S; none given"):
        EntropyExit.format_threshold(None)


def test_table_middle_is_the_middle_of_the_configured_points() -> None:
    assert PatienceExit.table_middle({"patience": [5, 6, 7, 8, 9]}) == 7
    assert EntropyExit.table_middle({"entropy": [0.2, 0.4, 0.6, 0.8, 1.0]}) == 0.6
    assert EntropyExit.table_middle() == 0.3  # the paper's 0.1, 0.3, 0.5
    assert NoExit.table_middle({"none": [1.0]}) is None


def test_check_table_thresholds_accepts_valid_points_and_skips_the_dense_grid() -> None:
    check_table_thresholds({"entropy": [0.1, 0.3, 0.5], "normalised_entropy": [0.2, 1.0], "patience": [3, 4]})
    check_table_thresholds({"dense": [-5.0, 1e9], "entropy": [0.1]})  # the dense sweep's grid is not a policy
    with pytest.raises(SmartBertError, match="normalised entropy threshold S must be a number"):
        check_table_thresholds({"dense": [0.0], "normalised_entropy": [1.5]})
    with pytest.raises(SmartBertError, match="patience must be a positive integer"):
        check_table_thresholds({"patience": [2.5]})


def test_normalised_entropy_names_itself_in_its_error() -> None:
    with pytest.raises(SmartBertError, match=r"normalised entropy threshold S must be a number \[0, 1.0\], got 2"):
        make_policy("normalised_entropy", 2)
