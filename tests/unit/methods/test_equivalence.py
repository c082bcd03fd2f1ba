"""Replay = batch-1 dynamic inference = batched dynamic inference, where it can fail: for every
registered method and every threshold policy, on untrained and briefly trained tiny models (and
SmartBERT without its gates: the exit-only path, ``trace --no-gates``), at a threshold chosen from
the model's own trace, on examples chosen from a pool so that every batch holds rows that exit at
their first head, at a later one and at the last layer (asserted before comparing: batched inference
then drops rows mid-batch), at batch sizes that leave a ragged last batch. Compared: every field of
the outcome, and what each path computed up to each exit (layers run, heads evaluated, their logits)
and nothing after it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from smartbert.data.encode import batch_indices
from smartbert.inference.dynamic import predict_batched, predict_dynamic
from smartbert.inference.record import record_trace
from smartbert.methods.registry import get_method, method_names
from smartbert.replay.policies import POLICIES, make_policy
from smartbert.replay.trace import Trace, replay
from tests.helpers import (
    CPU_DECISION_MARGIN,
    InferenceSpy,
    assert_same_computation,
    assert_same_outcome,
    build_model,
    exit_kinds,
    grid_middle,
    mixing_threshold,
    near_ties,
)

#: at most this many examples compared; batched inference runs in 12s and 7s (a ragged last batch each)
EXAMPLES = 24
BATCH_SIZES = (12, 7)
THRESHOLD_POLICIES = [name for name, cls in POLICIES.items() if not cls.is_static()]


def cases() -> list[Any]:
    """(method, trained, gates, policy): every method x threshold policy, untrained and trained;
    SmartBERT with and without its gates; a static method (one head, whatever its weights every
    example answers at the last layer) untrained, under one policy."""
    out = []
    for name in method_names():
        static = get_method(name).static
        policies = THRESHOLD_POLICIES[:1] if static else THRESHOLD_POLICIES
        for trained in (False,) if static else (False, True):
            for gates in ((True, False) if name == "smartbert" else (True,)):
                out.extend(pytest.param(name, trained, gates, policy,
                                        id=f"{name}-{'trained' if trained else 'untrained'}{'' if gates else '-nogates'}-{policy}")
                           for policy in policies)
    return out


@pytest.fixture(scope="module")
def pool_trace(sentiment_pool, trained_model):
    """``pool_trace(name, trained, gates)``: (model, its trace of the example pool), once per module."""
    cache: dict[tuple[str, bool, bool], tuple[Any, Trace]] = {}

    def get(name: str, trained: bool, gates: bool) -> tuple[Any, Trace]:
        if (name, trained, gates) not in cache:
            model = trained_model(name) if trained else build_model(name)
            cache[name, trained, gates] = model, record_trace(model, sentiment_pool, batch_size=100, meta={}, use_gates=gates)
        return cache[name, trained, gates]

    return get


def kinds_expected(model: Any, trace: Trace, trained: bool, policy_name: str) -> int:
    """Exit kinds (:func:`tests.helpers.exit_kinds`) every batch must hold. A one-head model: one (the
    last layer). A trained model under an entropy rule: all three. Otherwise two, except where
    nothing can differ: patience on an untrained model each of whose heads predicts one class for every
    example (its inputs are nearly alike), so every example agrees at the same head."""
    if len(model.exit_layers) == 1:
        return 1
    if trained and policy_name != "patience":
        return 3
    predictions = np.nan_to_num(trace.logits, nan=-np.inf).argmax(-1)
    one_class_per_head = all(len(np.unique(predictions[trace.evaluated[:, layer], layer])) <= 1 for layer in range(trace.num_layers))
    if policy_name == "patience" and not trained and one_class_per_head:
        return 1
    return 2


@pytest.mark.parametrize("name, trained, use_gates, policy_name", cases())
def test_replay_equals_batch_one_equals_batched(name: str, trained: bool, use_gates: bool, policy_name: str,
                                                sentiment_pool, pool_trace, monkeypatch) -> None:
    model, pool = pool_trace(name, trained, use_gates)
    threshold, rows, kinds_found = mixing_threshold(pool, policy_name)
    if len(model.exit_layers) == 1:  # a static model: any threshold; every example answers at the last layer
        threshold, rows, kinds_found = grid_middle(policy_name), list(range(EXAMPLES)), 1
    assert kinds_found >= kinds_expected(model, pool, trained, policy_name), f"{kinds_found} exit kinds at best"
    cycle = max(kinds_found, 1)
    rows = rows[: EXAMPLES - EXAMPLES % cycle]
    while any(len(rows) % size == 0 for size in BATCH_SIZES):  # keep the last batch ragged
        rows = rows[:-cycle]
    data = sentiment_pool.subset(rows)
    policy = make_policy(policy_name, threshold)
    trace = record_trace(model, data, batch_size=16, meta={}, use_gates=use_gates)
    ties = near_ties(trace, policy, CPU_DECISION_MARGIN)
    assert not any(ties.values()), f"decisions within {CPU_DECISION_MARGIN} of flipping: {ties}"
    replayed = replay(trace, policy)
    kinds = exit_kinds(replayed, model.num_layers, policy)
    for size in BATCH_SIZES:
        batches = batch_indices(data.lengths(), size, shuffle=False)
        assert len(batches[-1]) < size
        for batch in batches:
            assert len(set(kinds[batch])) == min(kinds_found, len(batch)), f"batch size {size}: exit kinds {kinds[batch]}"
    if use_gates and model.gates is not None:
        assert 0 < trace.ran.mean() < 1, "the gates skip no layer or every layer"

    spy = InferenceSpy(monkeypatch)
    single = predict_dynamic(model, data, policy, use_gates=use_gates)
    assert_same_outcome(replayed, single, "batch 1 vs replay")
    assert_same_computation(trace, policy, single, spy.take(len(data), model.num_layers), "batch 1 vs trace")
    for size in BATCH_SIZES:
        batched = predict_batched(model, data, policy, batch_size=size, use_gates=use_gates)
        assert_same_outcome(single, batched, f"batched ({size}) vs batch 1")
        assert_same_computation(trace, policy, batched, spy.take(len(data), model.num_layers), f"batched ({size}) vs trace")
    np.testing.assert_array_equal(replayed.gates, replayed.exit_layer if use_gates and model.gates is not None else 0)
