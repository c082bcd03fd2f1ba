"""Cost at guaranteed quality: the table (the first seed's shipped threshold, its cost and measured ms;
the random halves averaged over seeds) and the claim, calibrated both ways: equal costs are ties ("not
reproduced"), a clearly cheaper SmartBERT everywhere is "reproduced", a baseline whose full model
learned nothing is no evidence, a SmartBERT whose full model learned nothing is worse, and where the
full models differ by more than a point, cheaper alone is no evidence."""

from __future__ import annotations

import pandas as pd
import pytest

from smartbert.core.formats import CALIBRATION
from smartbert.reporting import claims
from smartbert.reporting.guaranteed import display, guaranteed_table, load_calibrations
from smartbert.reporting.methods import MethodCatalogue, MethodInfo

CATALOGUE = MethodCatalogue([MethodInfo("bert", "BERT", "none"), MethodInfo("deebert", "DeeBERT", "entropy"),
                             MethodInfo("pabee", "PABEE", "patience"), MethodInfo("smartbert", "SmartBERT", "entropy")])
TASKS = ["SST-2", "MRPC"]
MAJORITY = {"SST-2": {"majority_class": {"metric": 50.9}}, "MRPC": {"majority_class": {"metric": 81.2}}}


def row(task: str, method: str, cost: float, *, eps: float = 0.01, seed: int = 1, procedure: str = "ltt", std: float = 1.0,
        full: float = 88.0, threshold: float = 0.3) -> dict:
    return {"task": task, "method": method, "label": method.upper(), "variant": "default", "policy": "entropy",
            "loss": "disagreement", "procedure": procedure, "guarantee": "P(risk > eps) <= delta", "epsilon": eps, "delta": 0.1,
            "threshold": threshold, "certified": True, "metric": full - 0.5, "full_metric": full, "cost_pct": cost, "risk": 0.005,
            "n": 872, "trials": 500, "calibration_n": 436, "trial_threshold_median": threshold, "trial_certified_rate": 1.0,
            "trial_cost_pct_mean": cost, "trial_cost_pct_std": std, "trial_risk_mean": 0.004, "trial_violation_rate": 0.02,
            "trial_test_violation_rate": 0.08, "seed": seed}


def agg_of(bert: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"task": t, "method": "bert", "variant": "default", "policy": "none", "threshold": 0.0, "metric": m,
                          "cost_pct_paper": 100.0} for t, m in bert.items()])


AGG = agg_of({"SST-2": 88.0, "MRPC": 85.0})


def verdict(rows: list[dict], agg: pd.DataFrame = AGG) -> claims.Claim:
    return claims.claim_guaranteed_cost(pd.DataFrame(rows), agg, MAJORITY, TASKS, [0.01])


def test_equal_costs_are_ties_not_wins() -> None:
    found = verdict([row(t, m, 60.0) for t in TASKS for m in ("smartbert", "deebert", "pabee")])
    assert found.verdict == "not reproduced" and all("tie" in line for line in found.evidence)


def test_a_clearly_cheaper_smartbert_reproduces() -> None:
    found = verdict([row(t, "smartbert", 40.0) for t in TASKS] + [row(t, m, 60.0) for t in TASKS for m in ("deebert", "pabee")])
    assert found.verdict == "reproduced"
    assert "better: 40.0% vs 60.0% of BERT's FLOPs (gap +20.0, margin 3.0)" in found.evidence[0]


def test_a_gap_within_the_margin_and_the_trials_spread_is_a_tie() -> None:
    found = verdict([row(t, "smartbert", 57.5, std=1.0) for t in TASKS] + [row(t, "deebert", 60.0, std=1.0) for t in TASKS])
    assert found.verdict == "not reproduced"  # gap 2.5 < 2 + (1 + 1) / 2
    found = verdict([row(t, "smartbert", 56.5, std=1.0) for t in TASKS] + [row(t, "deebert", 60.0, std=1.0) for t in TASKS])
    assert found.verdict == "reproduced"


def test_models_that_learned_nothing() -> None:
    at_majority = [row(t, "smartbert", 40.0) for t in TASKS] + [row(t, "deebert", 60.0, full=f)
                                                                for t, f in (("SST-2", 50.9), ("MRPC", 81.2))]
    found = verdict(at_majority)
    assert found.verdict == "not testable in this run" and all("no evidence" in line for line in found.evidence)
    mine_at_majority = [row(t, "smartbert", 10.0, full=f) for t, f in (("SST-2", 50.9), ("MRPC", 81.2))] + \
        [row(t, "deebert", 60.0) for t in TASKS]
    assert verdict(mine_at_majority).verdict == "not reproduced"
    bert_at_majority = verdict([row(t, "smartbert", 40.0) for t in TASKS] + [row(t, "deebert", 60.0) for t in TASKS],
                               agg_of({"SST-2": 50.0, "MRPC": 81.0}))
    assert bert_at_majority.verdict == "not testable in this run"


def test_full_models_more_than_a_point_apart() -> None:
    worse_but_cheaper = [row(t, "smartbert", 40.0, full=85.0) for t in TASKS] + [row(t, "deebert", 60.0, full=88.0) for t in TASKS]
    found = verdict(worse_but_cheaper)
    assert found.verdict == "not testable in this run"
    assert all("no evidence" in line and "full models 85.0 vs 88.0 (a trade-off)" in line for line in found.evidence)
    worse_and_as_costly = [row(t, "smartbert", 60.0, full=85.0) for t in TASKS] + [row(t, "deebert", 60.0, full=88.0) for t in TASKS]
    found = verdict(worse_and_as_costly)
    assert found.verdict == "not reproduced" and all(line.count("worse") == 1 for line in found.evidence)
    better_and_as_cheap = [row(t, "smartbert", 60.0, full=88.0) for t in TASKS] + [row(t, "deebert", 60.0, full=85.0) for t in TASKS]
    assert verdict(better_and_as_cheap).verdict == "reproduced"
    within_a_point = [row(t, "smartbert", 40.0, full=87.5) for t in TASKS] + [row(t, "deebert", 60.0, full=88.0) for t in TASKS]
    assert verdict(within_a_point).verdict == "reproduced"


def test_the_claim_names_the_loss_it_was_calibrated_on() -> None:
    rows = [dict(row(t, m, 60.0), loss="harm") for t in TASKS for m in ("smartbert", "deebert")]
    assert "the exit gets wrong where the model's own full path gets them right" in verdict(rows).rule


def test_the_table_ships_the_first_seed_and_averages_the_halves(tmp_path) -> None:
    rows = [row("SST-2", "smartbert", 40.0, seed=1, threshold=0.3), row("SST-2", "smartbert", 50.0, seed=2, threshold=0.5),
            row("SST-2", "deebert", 60.0), row("SST-2", "deebert", 70.0, eps=0.02), row("SST-2", "smartbert", 30.0, procedure="crc")]
    for i, r in enumerate(rows):
        CALIBRATION.write_csv(pd.DataFrame([r]), tmp_path / f"{i}.csv")
    calibrations = load_calibrations(sorted(tmp_path.glob("*.csv")))
    latency = pd.DataFrame([{"task": "SST-2", "method": "smartbert", "threshold": 0.3, "ms_per_example": 7.5},
                            {"task": "SST-2", "method": "smartbert", "threshold": 0.5, "ms_per_example": 5.0}])
    table = guaranteed_table(calibrations, latency, [0.01], methods=CATALOGUE)
    assert list(zip(table["method"], table["procedure"])) == [("deebert", "ltt"), ("smartbert", "ltt"), ("smartbert", "crc")]
    smart = table[(table["method"] == "smartbert") & (table["procedure"] == "ltt")].iloc[0]
    assert smart["trial_cost_pct_mean"] == pytest.approx(45.0) and smart["seeds"] == 2
    # the shipped columns are one model's: seed 1's threshold, its cost and its timing
    assert smart["threshold"] == 0.3 and smart["cost_pct"] == 40.0 and smart["ms_per_example"] == 7.5
    assert pd.isna(table.iloc[0]["ms_per_example"])
    shown = display(table)
    assert shown.loc[1, "S shipped"] == "0.3" and shown.loc[1, "FLOPs %"] == "40.0" and shown.loc[1, "eps"] == "1 pt"
    assert shown.loc[1, "over eps (dev)"] == "2%" and shown.loc[1, "over eps (test half)"] == "8%"
