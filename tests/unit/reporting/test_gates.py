"""What the skipping gates do (smartbert.replay.gates; issue 15, item 5): per-layer skip rates and
histograms from a trace, the skip-only path against BERT with its margin rule, and the REPORT's
first section saying which tasks can test the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smartbert.replay.gates import gate_statistics
from smartbert.reporting.claims import task_weights
from smartbert.reporting.gate_tables import (
    SKIP_ONLY_MARGIN,
    gate_frame,
    skip_only_gaps,
    sparkline,
)
from smartbert.reporting.report import weight_lines
from tests.unit.replay.test_oracle import make_trace

PAPER_DIR = "results/paper"


def gated_trace(gate_prob) -> object:
    gate_prob = np.array(gate_prob, dtype=np.float32)
    n, layers = gate_prob.shape
    trace = make_trace([0] * n, [[0] * layers] * n, ran=gate_prob < 0.5, gates=True)
    trace.gate_prob = gate_prob
    return trace


def test_skip_rate_is_the_share_of_gates_at_or_above_one_half_and_the_histogram_sums_to_one() -> None:
    trace = gated_trace([[0.95, 0.1, 0.5], [0.99, 0.2, 0.49], [0.97, 0.05, 0.0], [0.91, 0.6, 1.0]])
    rows = gate_statistics(trace)
    assert [r["skip_rate"] for r in rows] == [100.0, 25.0, 50.0]
    assert [r["mean_gate"] for r in rows] == pytest.approx([0.955, 0.2375, 0.4975])
    for row in rows:
        assert sum(row["histogram"]) == pytest.approx(1.0)
    assert rows[0]["histogram"][9] == 1.0  # every layer-1 gate in [0.9, 1.0]
    assert rows[2]["histogram"][0] == 0.25 and rows[2]["histogram"][4] == 0.25 and rows[2]["histogram"][5] == 0.25
    assert sparkline(rows[0]["histogram"]) == " " * 9 + "█"


def test_a_model_without_gates_gets_no_gate_rows() -> None:
    frame = gate_frame([{"summary": {"task": "RTE", "method": "bert", "variant": "default", "seed": 1}, "heads": []}])
    assert frame.empty and list(frame.columns)[:4] == ["task", "method", "variant", "seed"]


def sweeps(skip_only: dict[str, float], bert: dict[str, float]) -> pd.DataFrame:
    rows = [{"task": t, "method": "bert", "variant": "default", "seed": 1, "metric": m, "avg_layers_run": 6.0, "cost_pct_paper": 100.0}
            for t, m in bert.items()]
    rows += [{"task": t, "method": "smartbert", "variant": "skiponly", "seed": 1, "metric": m, "avg_layers_run": 4.0,
              "cost_pct_paper": 70.0} for t, m in skip_only.items()]
    return pd.DataFrame(rows)


def test_the_skip_only_path_is_flagged_only_when_it_loses_the_margin_or_more() -> None:
    gaps = skip_only_gaps(sweeps({"RTE": 60.0 - SKIP_ONLY_MARGIN, "MRPC": 88.0 - SKIP_ONLY_MARGIN + 0.1, "SST-2": 90.5},
                                 {"RTE": 60.0, "MRPC": 88.0, "SST-2": 90.0})).set_index("task")
    assert gaps.loc["RTE", "costs_too_much"] and not gaps.loc["MRPC", "costs_too_much"] and not gaps.loc["SST-2", "costs_too_much"]
    assert gaps.loc["RTE", "gap"] == pytest.approx(-SKIP_ONLY_MARGIN) and gaps.loc["SST-2", "gap"] == pytest.approx(0.5)


def test_every_gated_variant_gets_its_skip_only_gap_from_its_no_exit_point() -> None:
    """A variant has no skip-only sweep of its own: its S=0 point (no exit fires) stands for it, under
    its own name; its cheaper points and the default's exit curve are not skip-only paths."""
    rows = sweeps({"RTE": 59.0}, {"RTE": 60.0}).to_dict("records")
    rows += [{"task": "RTE", "method": "smartbert", "variant": v, "policy": "entropy", "seed": 1, "threshold": s, "metric": m,
              "avg_layers_run": 6.0, "cost_pct_paper": c}
             for v, s, m, c in (("gatesrun", 0.0, 57.5, 104.0), ("gatesrun", 0.3, 59.5, 60.0), ("default", 0.0, 59.0, 104.0))]
    gaps = skip_only_gaps(pd.DataFrame(rows)).set_index("variant")
    assert sorted(gaps.index) == ["default", "gatesrun"]
    assert gaps.loc["gatesrun", "gap"] == pytest.approx(-2.5) and gaps.loc["gatesrun", "costs_too_much"]
    assert gaps.loc["gatesrun", "cost_pct"] == 104.0 and not gaps.loc["default", "costs_too_much"]


def test_the_first_report_section_says_which_tasks_bert_learned() -> None:
    agg = pd.DataFrame([{"task": t, "method": "bert", "variant": "default", "threshold": 0.0, "metric": m, "cost_pct_paper": 100.0}
                        for t, m in (("RTE", 59.5), ("MRPC", 81.2), ("WNLI", 56.3))])
    majority = {t: {"task": t, "main_metric": "accuracy", "majority_class": {"metric": m}}
                for t, m in (("RTE", 52.7), ("MRPC", 81.2), ("WNLI", 56.3))}
    weights = task_weights(agg, majority, ["RTE", "MRPC", "WNLI"], PAPER_DIR)
    assert [w.learned for w in weights] == [True, False, False]
    text = "\n".join(weight_lines(weights))
    assert "| RTE | yes: BERT 59.5, +6.8 over the majority class 52.7; the paper's BERT-base 61.0 (-1.5) |" in text
    assert "| MRPC | **no**: BERT 81.2 is at or below the majority class 81.2" in text
    assert "Verdicts below rest on RTE (1 of 3 tasks)." in text
