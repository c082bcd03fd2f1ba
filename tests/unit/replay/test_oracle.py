"""Oracle exits and per-head tables on hand-built traces (issue 14, item 4)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from smartbert.core.formats import ORACLE
from smartbert.modeling.flops import trace_costs
from smartbert.replay.cost import BackboneShape
from smartbert.replay.oracle import (
    analyse,
    flat_reason,
    head_table,
    oracle,
    oracle_exit_mask,
)
from smartbert.replay.sweep import sweep
from smartbert.replay.trace import Trace, TraceMeta
from smartbert.reporting.oracle_table import degenerate_heads, load_oracles

NAN = np.nan
A, B = [3.0, 0.0], [0.0, 3.0]  # confident class 0, confident class 1
SHAPE = BackboneShape(num_layers=3, hidden=32, heads=2, ffn=64)


def make_trace(labels, predictions, ran=None, gates=False) -> Trace:
    """``predictions``: per example, per layer 0/1 or None (head not evaluated)."""
    n, layers = len(labels), len(predictions[0])
    ran = np.ones((n, layers), dtype=bool) if ran is None else np.array(ran, dtype=bool)
    evaluated = np.array([[p is not None for p in row] for row in predictions])
    logits = np.full((n, layers, 2), NAN, dtype=np.float32)
    for i, row in enumerate(predictions):
        for j, p in enumerate(row):
            if p is not None:
                logits[i, j] = A if p == 0 else B
    meta = TraceMeta(has_gates=gates, task="SST-2", num_layers=layers, num_labels=2, method="deebert", label="DeeBERT",
                     default_policy="entropy", head_kind="pooled_classifier", exit_layers=list(range(1, layers + 1)),
                     shape=SHAPE.as_dict(), max_seq_len=16)
    return Trace(np.array(labels), ran, evaluated, logits, np.full((n, layers), NAN, dtype=np.float32),
                 np.full(n, 8), meta)


def test_oracle_exit_is_the_earliest_head_that_is_right_and_stays_right():
    trace = make_trace([0, 1, 0, 1, 0],
                       [[0, 0, 0],      # right from layer 1
                        [0, 1, 1],      # right from layer 2
                        [0, 1, 0],      # right at 1, wrong at 2: only layer 3 stays right
                        [1, 1, 0],      # the last head is wrong: no head stays right
                        [0, None, 0]],  # layer 2 skipped (no head): right from layer 1
                       ran=[[1, 1, 1]] * 4 + [[1, 0, 1]], gates=True)
    mask = oracle_exit_mask(trace)
    first = [int(np.argmax(row)) + 1 if row.any() else None for row in mask]
    assert first == [1, 2, 3, None, 1]
    row = oracle(trace, trace_costs(trace.meta))
    assert row["avg_exit_layer"] == pytest.approx((1 + 2 + 3 + 3 + 1) / 5)
    assert row["avg_layers_run"] == pytest.approx((1 + 2 + 3 + 3 + 1) / 5)
    assert row["metric"] == pytest.approx(80.0)  # the last head's: 4 of 5 right
    full = sweep(trace, trace_costs(trace.meta), [0.0], policy="entropy")  # never exits early
    assert row["metric"] == pytest.approx(full["metric"].iloc[0]) and row["cost_pct_paper"] < full["cost_pct_paper"].iloc[0]


def test_head_table_and_the_policy_against_the_oracle():
    trace = make_trace([0, 1, 0, 1], [[0, 0, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1]])
    heads = head_table(trace, threshold=0.3)  # every head is confident: all exit at layer 1
    assert [h["layer"] for h in heads] == [1, 2, 3]
    assert [h["accuracy"] for h in heads] == [50.0, 100.0, 100.0]
    assert [h["agreement_with_last"] for h in heads] == [50.0, 100.0, 100.0]
    assert [h["exits_here"] for h in heads] == [4, 0, 0] and heads[0]["exit_agreement_with_last"] == 50.0
    found = analyse(trace, trace_costs(trace.meta))["summary"]
    assert found["oracle_metric"] == 100.0 and found["oracle_avg_exit_layer"] == pytest.approx(1.5)
    # entropy: S = 0 never exits early (100, full cost) ... any S > 0.05 exits everyone at layer 1 (50)
    assert found["policy_cost_pct_at_oracle_metric"] > found["oracle_cost_pct"]
    assert found["policy_metric_at_oracle_cost"] == pytest.approx(50.0)


def test_a_flat_curve_with_moving_exits_says_why():
    one_class = make_trace([0, 1, 0, 1], [[0, 0, 0]] * 4)
    found = analyse(one_class, trace_costs(one_class.meta))["summary"]
    assert "every head predicts one class" in found["flat_curve_reason"]
    agreeing = make_trace([0, 1, 0, 1], [[0, 0, 0], [1, 1, 1], [0, 0, 0], [0, 0, 0]])
    assert "exiting earlier changes no prediction" in analyse(agreeing, trace_costs(agreeing.meta))["summary"]["flat_curve_reason"]
    swapping = make_trace([0, 1, 0, 1], [[1, 0, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])  # one turns wrong, one right
    assert "50.0% of the predictions differ" in analyse(swapping, trace_costs(swapping.meta))["summary"]["flat_curve_reason"]
    moving = make_trace([0, 1, 0, 1], [[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1]])
    assert analyse(moving, trace_costs(moving.meta))["summary"]["flat_curve_reason"] is None  # the metric moves with the exits
    assert flat_reason(pd.DataFrame({"metric": [50.0], "avg_exit_layer": [1.0]}), []) is None


def test_dead_heads_are_listed_where_bert_learned_the_task(tmp_path):
    trace = make_trace([0, 1, 0, 1], [[0, 0, 0], [0, 1, 1], [0, 0, 0], [0, 1, 1]])
    path = tmp_path / "oracle.json"
    found = analyse(trace, trace_costs(trace.meta))
    found["summary"].update(variant="default", seed=1)
    path.write_text(json.dumps(ORACLE.stamp_document(found)))
    summary, heads = load_oracles([path])
    assert summary["oracle_metric"].iloc[0] == 100.0 and list(heads["layer"]) == [1, 2, 3]
    majority = {"SST-2": {"majority_class": {"metric": 50.0}}}
    flags = degenerate_heads(heads, {"SST-2": 90.0}, majority)
    assert len(flags) == 1 and "layers 1 (50.0)" in flags[0] and "deebert/default" in flags[0]
    assert "3 (" not in flags[0]  # the last head is the model's own result, flagged elsewhere
    assert degenerate_heads(heads, {"SST-2": 50.0}, majority) == []  # BERT at the majority class: nothing to lose
    subset = heads.assign(evaluated_share=0.4)  # a gated head judged on part of dev only: not judged
    assert degenerate_heads(subset, {"SST-2": 90.0}, majority) == []
    assert not math.isnan(summary["oracle_cost_pct"].iloc[0])
