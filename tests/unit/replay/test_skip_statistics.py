"""The gate statistics behind lambda selection's flags (``replay.trace.skip_statistics``): per-layer
skip rates, the layers-run histogram, and ``collapsed`` / ``inactive``, on hand-built traces whose
answers are known, each flag just on and just off its boundary."""

from __future__ import annotations

import numpy as np
import pytest

from smartbert.replay.trace import Trace, TraceMeta, skip_statistics


def gated_trace(ran: list[list[bool]]) -> Trace:
    """A gated trace whose only content that matters here is which layers ran ([N, L])."""
    ran_array = np.array(ran, dtype=bool)
    n, layers = ran_array.shape
    return Trace(np.zeros(n, dtype=int), ran_array, ran_array.copy(), np.zeros((n, layers, 2), dtype=np.float32),
                 np.where(ran_array, 0.2, 0.8).astype(np.float32), np.full(n, 8),
                 TraceMeta(num_layers=layers, num_labels=2, head_kind="classifier", exit_layers=list(range(1, layers + 1)),
                           has_gates=True))


def test_rates_and_histogram_by_hand() -> None:
    stats = skip_statistics(gated_trace([[True, False, True, False], [True, True, False, False]]))
    assert stats["skip_rate_per_layer"] == [0.0, 0.5, 0.5, 1.0]
    assert stats["layers_run_histogram"] == [0, 0, 2, 0, 0]  # both examples run 2 of 4 layers
    assert stats["mean_layers_run"] == 2.0
    assert stats["always_skipped_layers"] == [4]
    assert not stats["collapsed"] and not stats["inactive"]


@pytest.mark.parametrize("ran, collapsed", [
    # half the layers (2 of 4) skipped for every example: collapsed
    ([[True, True, False, False]] * 100, True),
    # one example of 100 runs layer 4: layer 4 is skipped for 99% (the boundary, `always` = 0.99): collapsed
    ([[True, True, False, False]] * 99 + [[True, True, False, True]], True),
    # two of 100 run it: 98% < 99%, only layer 3 is always skipped (1 of 4 < half): not collapsed
    ([[True, True, False, False]] * 98 + [[True, True, False, True]] * 2, False),
    # no layer always skipped, but under one layer runs on average: collapsed
    ([[False, False, False, False]] * 3 + [[True, True, True, False]], True),
    # exactly one layer on average: not collapsed
    ([[True, False, False, False], [False, True, False, False], [False, False, True, False], [False, False, False, True]], False),
])
def test_collapsed(ran: list[list[bool]], collapsed: bool) -> None:
    assert skip_statistics(gated_trace(ran))["collapsed"] is collapsed


def test_inactive_means_no_gate_ever_skips() -> None:
    every = [[True] * 4] * 5
    assert skip_statistics(gated_trace(every))["inactive"] is True
    one_skip = every[:4] + [[True, True, False, True]]
    stats = skip_statistics(gated_trace(one_skip))
    assert stats["inactive"] is False and stats["skip_rate_per_layer"] == [0.0, 0.0, 0.2, 0.0]
