"""Sweep rows costed by hand (issue 31, item 4: tests that kill mutmut's survivors): the cost per
example is embeddings + the evaluated layers, heads and gates (docs/design.md, "Trace, replay and
cost"), cost % is relative to the plain forward (every layer + BERT's classifier), and the rows'
thresholds, policies and provenance are the ones asked for."""

from __future__ import annotations

import pytest

from smartbert.core.errors import SmartBertError
from smartbert.replay.cost import BackboneShape, ComponentCosts
from smartbert.replay.policies import EntropyExit
from smartbert.replay.sweep import parse_policy_thresholds, parse_thresholds, summarise, sweep
from smartbert.replay.trace import replay
from tests.helpers import trace_from_predictions

M = 1e6
# made-up component costs (millions), different in the two conventions so a swap shows
PAPER = {"embeddings": 1 * M, "layer": 100 * M, "pooler": 7 * M, "pooled_classifier": 5 * M,
         "exit_classifier": 10 * M, "skip_gate": 3 * M}
FVCORE = {"embeddings": 2 * M, "layer": 50 * M, "pooler": 9 * M, "pooled_classifier": 2 * M,
          "exit_classifier": 4 * M, "skip_gate": 1 * M}
COSTS = ComponentCosts(BackboneShape(4, 32, 2, 64), 16, 2, PAPER, FVCORE)


def gated_trace():
    """ex0 runs every layer and is right at layer 1; ex1 skips layer 1 (no head there), predicts 1
    from layer 2 on, label 0 (wrong). Both heads are confident (entropy ~0.09)."""
    trace = trace_from_predictions([0, 0], [[0, 0, 0, 0], [None, 1, 1, 1]], ran=[[1, 1, 1, 1], [0, 1, 1, 1]], gates=True)
    trace.meta.model_provenance = {"seed": 3, "config_hash": "c", "experiment_hash": "e", "commit": "abc", "device": "cpu"}
    trace.meta.provenance = {"device": "cuda:0"}
    return trace


def test_summarise_costs_each_example_by_hand() -> None:
    """S = 0.3: ex0 exits at layer 1 (1 layer, 1 head, 1 gate), ex1 at layer 2 (1 layer run, 1 head,
    2 gates). Paper: 1 + 100 + 10 + 3 = 114 and 117 -> 115.5M of 1 + 4 x 100 + 5 = 406M.
    fvcore: 2 + 50 + 4 + 1 = 57 and 58 -> 57.5M of 2 + 4 x 50 + 2 = 204M."""
    trace = gated_trace()
    row = summarise(trace, replay(trace, EntropyExit(0.3)), COSTS)
    assert row["metric"] == pytest.approx(50.0) and row["accuracy"] == pytest.approx(50.0)
    assert row["avg_flops_paper_M"] == 115.5  # millions: / 1e6 exactly
    assert row["cost_pct_paper"] == pytest.approx(100 * 115.5 / 406)
    assert row["avg_macs_fvcore_M"] == pytest.approx(57.5)
    assert row["cost_pct_fvcore"] == pytest.approx(100 * 57.5 / 204)
    assert row["avg_layers_run"] == pytest.approx(1.0)
    assert row["avg_layers_skipped"] == pytest.approx(0.5)  # ex1's layer 1
    assert row["avg_exit_layer"] == pytest.approx(1.5)
    assert row["n"] == 2


def test_cost_pct_is_relative_to_the_reference_depth() -> None:
    """A 4-layer model against a 6-layer backbone (DistilBERT's half-depth student against BERT):
    the reference is 1 + 6 x 100 + 5 = 606M; the trace's meta gives it when the caller does not."""
    trace = gated_trace()
    result = replay(trace, EntropyExit(0.3))
    assert summarise(trace, result, COSTS, reference_layers=6)["cost_pct_paper"] == pytest.approx(100 * 115.5 / 606)
    trace.meta.reference_layers = 6
    assert summarise(trace, result, COSTS)["cost_pct_fvcore"] == pytest.approx(100 * 57.5 / (2 + 6 * 50 + 2))
    assert summarise(trace, result, COSTS, reference_layers=4)["cost_pct_paper"] == pytest.approx(100 * 115.5 / 406)


def test_sweep_rows_are_the_sorted_distinct_thresholds_with_their_origin() -> None:
    trace = gated_trace()
    table = sweep(trace, COSTS, [0.3, 0.0, 0.3], policy="entropy")
    assert table["threshold"].tolist() == [0.0, 0.3]
    # S = 0: no early exit; both run to layer 4 (ex1 runs 3 layers): 1 + 4 x 100 + 4 x 10 + 4 x 3 and 1 + 300 + 30 + 12
    assert table["avg_flops_paper_M"].tolist() == pytest.approx([(453 + 343) / 2, 115.5])
    assert set(table["policy"]) == {"entropy"} and set(table["method"]) == {"test"} and set(table["label"]) == {"Test"}
    assert set(table["task"]) == {"SST-2"}
    first = table.iloc[0]
    assert (first["seed"], first["config_hash"], first["experiment_hash"], first["commit"]) == (3, "c", "e", "abc")
    assert (first["train_device"], first["trace_device"]) == ("cpu", "cuda:0")
    deeper = sweep(trace, COSTS, [0.3], policy="entropy", reference_layers=6)
    assert deeper["cost_pct_paper"].tolist() == pytest.approx([100 * 115.5 / 606])


def test_sweep_defaults_to_the_methods_rule_and_its_grid() -> None:
    trace = gated_trace()
    table = sweep(trace, COSTS)  # the trace's default policy: entropy
    assert table["threshold"].tolist() == sorted(EntropyExit.grid) and set(table["policy"]) == {"entropy"}
    widened = sweep(trace, COSTS, [0.33], with_grid=True)
    assert widened["threshold"].tolist() == sorted({*EntropyExit.grid, 0.33})
    assert sweep(trace, COSTS, [0.33])["threshold"].tolist() == [0.33]


def test_a_static_policy_sweeps_one_setting() -> None:
    trace = gated_trace()
    table = sweep(trace, COSTS, [0.1, 0.5], policy="none")
    assert table["threshold"].tolist() == [0.0] and table["policy"].tolist() == ["none"]
    # full depth, the last head only: 1 + 4 x 100 + 10 + 4 x 3 and 1 + 3 x 100 + 10 + 12
    assert table["avg_flops_paper_M"].iloc[0] == pytest.approx((423 + 323) / 2)


def test_threshold_parsing() -> None:
    assert parse_thresholds("0.1, 0.3,,0.5") == [0.1, 0.3, 0.5]
    for bad, message in (("0.1,x", "comma-separated numbers"), ("0.1,nan", "finite"), ("inf", "finite"),
                         (" , ", "^no thresholds given; pass e.g. --thresholds 0.1,0.3,0.5$")):
        with pytest.raises(SmartBertError, match=message):
            parse_thresholds(bad)
    assert parse_policy_thresholds(["entropy=0.1,0.3", "patience=3,4"]) == {"entropy": [0.1, 0.3], "patience": [3.0, 4.0]}
    assert parse_policy_thresholds([]) == {}
    with pytest.raises(SmartBertError, match="comma-separated numbers like 0.1,0.3,0.5; got '0.1=0.3'"):
        parse_policy_thresholds(["entropy=0.1=0.3"])  # the policy is what precedes the first '='
    with pytest.raises(SmartBertError, match="POLICY=V1,V2"):
        parse_policy_thresholds(["entropy"])
    with pytest.raises(SmartBertError, match="patience must be a positive integer"):
        parse_policy_thresholds(["patience=0"])
