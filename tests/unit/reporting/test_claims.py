"""The claim rules, calibrated both ways: the paper's own transcribed Tables 1-3 read "reproduced";
identical curves, a clearly shifted curve, a null effect and majority-class models read "not
reproduced" (or "not testable" where nothing can be tested). And the curve arithmetic by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smartbert.app.catalogue import method_catalogue
from smartbert.replay import curves
from smartbert.reporting import claims
from tests.helpers import PAPER_DIR

METHODS = method_catalogue()

PAPER = PAPER_DIR
TASKS = list(claims.PAPER_TASKS)


@pytest.fixture(scope="module")
def paper():
    return claims.paper_results(PAPER)


def with_rows(agg: pd.DataFrame, method: str, variant: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``agg`` with (method, variant)'s rows replaced by ``rows`` relabelled as them."""
    kept = agg[~((agg["method"] == method) & (agg["variant"] == variant))]
    return pd.concat([kept, rows.assign(method=method, variant=variant)], ignore_index=True)


def rows_of(agg, method, variant="default"):
    return agg[(agg["method"] == method) & (agg["variant"] == variant)]


def test_every_rule_reads_reproduced_on_the_papers_own_tables(paper):
    agg, majority = paper
    assert claims.claim_reduction(agg, TASKS, [0.1, 0.3, 0.5], majority).verdict == "reproduced"
    assert claims.claim_dominance(agg, TASKS, ["deebert", "fastbert"], majority).verdict == "reproduced"
    assert claims.claim_hard_tasks(agg, TASKS, majority).verdict == "reproduced"
    assert claims.claim_skip_only(agg, ["SST-2", "RTE", "WNLI"], majority).verdict == "reproduced"
    assert claims.claim_cheap_heads(claims.paper_table2(PAPER)).verdict == "reproduced"
    # Figures 5 and 6 have no numbers in the paper: no verdict rather than a made-up one
    assert claims.paper_verdicts(PAPER, methods=METHODS) == ["reproduced"] * 4 + [None, None, "reproduced"]


def test_wnli_where_every_model_sits_at_the_majority_class_is_not_counted(paper):
    agg, majority = paper
    claim = claims.claim_skip_only(agg, ["WNLI"], majority)
    assert claim.verdict == "not testable in this run" and "not counted" in claim.evidence[0]


def test_identical_curves_are_ties_not_wins(paper):
    agg, majority = paper
    same = with_rows(with_rows(agg, "smartbert", "default", rows_of(agg, "deebert")), "fastbert", "default", rows_of(agg, "deebert"))
    claim = claims.claim_dominance(same, TASKS, ["deebert", "fastbert"], majority)
    assert claim.verdict == "not reproduced"
    assert all("tie: mean gap +0.00" in line for line in claim.evidence if " vs " in line)


def test_a_curve_within_the_margin_everywhere_is_a_tie(paper):
    agg, majority = paper
    slightly = rows_of(agg, "deebert").assign(metric=lambda f: f["metric"] + claims.MARGIN * 0.8)
    claim = claims.claim_dominance(with_rows(agg, "smartbert", "default", slightly), TASKS, ["deebert"], majority)
    assert claim.verdict == "not reproduced"


def test_a_curve_shifted_down_by_a_clear_margin_is_not_reproduced(paper):
    agg, majority = paper
    lower = rows_of(agg, "smartbert").assign(metric=lambda f: f["metric"] - 3.0)
    shifted = with_rows(agg, "smartbert", "default", lower)
    assert claims.claim_dominance(shifted, TASKS, ["deebert", "fastbert"], majority).verdict == "not reproduced"
    assert claims.claim_reduction(shifted, TASKS, [0.1, 0.3, 0.5], majority).verdict == "not reproduced"
    skip = rows_of(agg, "smartbert", "skiponly").assign(metric=lambda f: f["metric"] - 3.0)
    assert claims.claim_skip_only(with_rows(agg, "smartbert", "skiponly", skip), ["SST-2", "RTE"], majority).verdict == "not reproduced"


def test_a_null_effect_is_not_reproduced(paper):
    """SmartBERT that is BERT: every S at full cost with BERT's metric; skip-only that skips nothing."""
    agg, majority = paper
    bert = rows_of(agg, "bert")
    null = pd.concat([bert.assign(threshold=s, policy="entropy") for s in (0.1, 0.3, 0.5)], ignore_index=True)
    nulled = with_rows(with_rows(agg, "smartbert", "default", null), "smartbert", "skiponly", bert)
    assert claims.claim_reduction(nulled, TASKS, [0.1, 0.3, 0.5], majority).verdict == "not reproduced"
    assert claims.claim_hard_tasks(nulled, TASKS, majority).verdict == "partly reproduced"  # the baselines' half holds
    assert claims.claim_skip_only(nulled, ["SST-2", "RTE"], majority).verdict == "not reproduced"
    assert claims.claim_dominance(nulled, TASKS, ["deebert", "fastbert"], majority).verdict != "reproduced"


def test_majority_class_models_are_evidence_for_no_one(paper):
    agg, majority = paper
    floor = {t: majority[t]["majority_class"]["metric"] for t in majority}
    at_floor = lambda rows: rows.assign(metric=[floor[t] for t in rows["task"]])  # noqa: E731
    # baselines that learned nothing: beating them proves nothing
    weak = with_rows(with_rows(agg, "deebert", "default", at_floor(rows_of(agg, "deebert"))),
                     "fastbert", "default", at_floor(rows_of(agg, "fastbert")))
    claim = claims.claim_dominance(weak, TASKS, ["deebert", "fastbert"], majority)
    assert claim.verdict == "not testable in this run" and all("no evidence" in line for line in claim.evidence if " vs " in line)
    # SmartBERT that learned nothing loses to baselines that did
    dead = with_rows(agg, "smartbert", "default", at_floor(rows_of(agg, "smartbert")))
    assert claims.claim_dominance(dead, TASKS, ["deebert", "fastbert"], majority).verdict == "not reproduced"
    assert claims.claim_reduction(dead, TASKS, [0.1, 0.3, 0.5], majority).verdict == "not reproduced"
    # BERT that learned nothing: no task can test anything
    nobody = with_rows(agg, "bert", "default", at_floor(rows_of(agg, "bert")))
    assert claims.claim_reduction(nobody, TASKS, [0.1, 0.3, 0.5], majority).verdict == "not testable in this run"


def test_ablation_rule_both_ways(paper):
    agg, majority = paper
    smart = rows_of(agg, "smartbert")
    for delta, verdict in ((0.0, "not reproduced"), (-2.0, "reproduced"), (+2.0, "not reproduced")):
        variant = smart.assign(metric=smart["metric"] + delta)
        found = claims.claim_ablation(with_rows(agg, "smartbert", "nocontrast", variant), "c", "default", ["nocontrast"], "contrast", majority)
        assert found.verdict == verdict, (delta, found.evidence)


def test_seed_spread_widens_the_margin(paper):
    agg, majority = paper
    better = rows_of(agg, "deebert").assign(metric=lambda f: f["metric"] + 1.0)
    one_seed = with_rows(agg, "smartbert", "default", better)
    assert claims.claim_dominance(one_seed, TASKS, ["deebert"], majority).verdict == "reproduced"
    noisy = with_rows(agg, "smartbert", "default", better.assign(metric_std=2.0))
    assert claims.claim_dominance(noisy, TASKS, ["deebert"], majority).verdict == "not reproduced"  # +1 within 0.5 + 1.0


def test_one_models_sampling_does_not_decide_the_comparison():
    """SmartBERT above DeeBERT at DeeBERT's only comparable point (100%) but below it at its own
    cheaper points: compared at both models' points it is a tie, not a win."""
    smart = points((60, 92.0), (80, 92.5), (100, 93.0)).assign(metric_std=0.0)
    dee = points((30, 92.4), (45, 92.3), (100, 92.3)).assign(metric_std=0.0)
    found = claims.compare(smart, dee)
    assert found.outcome == "tie" and found.uncovered_other == 2 and found.covered == 4
    assert claims.compare(dee, smart).outcome == "tie"  # and the same the other way round


def points(*pairs):
    return pd.DataFrame([{"cost_pct_paper": c, "metric": m} for c, m in pairs])


def test_pareto_front_and_attainable_metric():
    curve = points((30, 80.0), (50, 85.0), (40, 79.0), (70, 84.0), (100, 90.0))
    assert curves.pareto_front(curve)[["cost_pct_paper", "metric"]].values.tolist() == [[30, 80.0], [50, 85.0], [100, 90.0]]
    got = curves.attainable(curve, [20, 30, 45, 69, 100, 120])
    assert math.isnan(got[0]) and got[1:].tolist() == [80.0, 80.0, 85.0, 90.0, 90.0]


def test_area_under_and_between_crossing_curves_by_hand():
    a = points((20, 70.0), (60, 90.0))        # cheap and weak, then strong
    b = points((20, 80.0), (50, 85.0))        # better early, worse late
    assert curves.common_range([a, b]) == (20, 50)
    assert curves.normalised_area(a, 20, 100) == pytest.approx((70 * 40 + 90 * 40) / 80)
    between = curves.area_between(a, b, 20, 100)  # b stays at 85 beyond its last point (attainable)
    assert between["mean_gap"] == pytest.approx((-10 * 30 - 15 * 10 + 5 * 40) / 80)
    assert between["share_above"] == pytest.approx(0.5) and between["share_below"] == pytest.approx(0.5)
    assert curves.area_between(a, a, 20, 100) == {"mean_gap": 0.0, "share_above": 0.0, "share_below": 0.0}
    assert math.isnan(curves.normalised_area(a, 60, 60))


VARIANT_CONFIG = {"tasks": TASKS, "methods": {"deebert": {}, "fastbert": {}}, "thresholds": {"table": [0.1, 0.3, 0.5]},
                  "variants": {"gatesrun": {"method": "smartbert", "config": {"gate_init_skip": 0.05}}}}


def test_a_variant_is_read_by_the_same_rules_in_the_defaults_place(paper):
    agg, majority = paper
    smart = rows_of(agg, "smartbert")
    same = with_rows(agg, "smartbert", "gatesrun", smart)
    default_verdicts = [c.verdict for c in claims.evaluate_claims(agg, majority, {
        **VARIANT_CONFIG, "tables": {"table3_tasks": []}, "figures": {"fig5_variants": [], "fig6_variants": []}},
        claims.paper_table2(PAPER), methods=METHODS)[:3]]
    assert [c.verdict for c in claims.variant_claims(same, majority, VARIANT_CONFIG, "gatesrun", methods=METHODS)] == default_verdicts
    assert default_verdicts[0] == "reproduced"
    # a variant 3 points lower everywhere: no point within 1 of BERT on any task, and worse than the baselines
    lower = with_rows(agg, "smartbert", "gatesrun", smart.assign(metric=smart["metric"] - 3.0))
    before = lower.copy()
    found = claims.variant_claims(lower, majority, VARIANT_CONFIG, "gatesrun", methods=METHODS)
    assert [c.verdict for c in found[:2]] == ["not reproduced", "not reproduced"]
    pd.testing.assert_frame_equal(lower, before)  # the reading leaves the caller's frame as it was
    # in the reading, the variant's rows and only those are SmartBERT's default
    read = claims.as_default(lower, "smartbert", "gatesrun")
    assert rows_of(read, "smartbert")["metric"].tolist() == (smart["metric"] - 3.0).tolist()
    assert rows_of(read, "smartbert", "gatesrun").empty


def test_a_variant_is_read_only_on_the_tasks_it_ran(paper):
    agg, majority = paper
    smart = rows_of(agg, "smartbert")
    on_rte = with_rows(agg, "smartbert", "gatesrun", smart[smart["task"] == "RTE"])
    reduction = claims.variant_claims(on_rte, majority, VARIANT_CONFIG, "gatesrun", methods=METHODS)[0]
    assert [line.split(":")[0] for line in reduction.evidence] == ["RTE"]


def test_the_report_sets_each_smartbert_variant_beside_the_default(paper):
    from smartbert.reporting.report import variant_lines

    agg, majority = paper
    agg = agg.copy()  # the paper gives one cost per task: make the cheapest of Table 1's points a choice
    at_rte = (agg["method"] == "smartbert") & (agg["task"] == "RTE")
    agg["cost_pct_paper"] = agg["cost_pct_paper"].astype(float)
    agg.loc[at_rte, "cost_pct_paper"] = np.linspace(80.0, 40.0, int(at_rte.sum()))
    smart = rows_of(agg, "smartbert")
    rte = smart[smart["task"] == "RTE"]
    lower = with_rows(agg, "smartbert", "gatesrun", rte.assign(metric=rte["metric"] - 5.0, avg_layers_skipped=0.0))
    text = "\n".join(variant_lines(lower, majority, VARIANT_CONFIG, methods=METHODS))
    bert = float(rows_of(agg, "bert").set_index("task").loc["RTE", "metric"])
    best = rte.sort_values(["metric", "cost_pct_paper"], ascending=[False, True]).iloc[0]
    assert "### SmartBERT [gatesrun] (gate_init_skip: 0.05)" in text
    # Table 1's point by hand (not by claims.cheapest_within, which the report uses): the cheapest of
    # S = 0.1, 0.3, 0.5 within 1 point of BERT
    candidates = rte[rte["threshold"].isin([0.1, 0.3, 0.5]) & (rte["metric"] >= bert - 1.0)]
    assert len(candidates) > 1 and candidates["cost_pct_paper"].nunique() > 1  # the choice is a choice
    table1 = candidates.sort_values("cost_pct_paper").iloc[0]
    assert (f"| RTE | {bert:.1f} | {best['metric']:.1f} ({best['cost_pct_paper']:.0f}%) | "
            f"{table1['metric']:.1f} at {table1['cost_pct_paper']:.0f}% (S={table1['threshold']:g}) | " in text
            and f"| {best['metric'] - 5.0:.1f} ({best['cost_pct_paper']:.0f}%) | none | 0.00 |" in text), text
    assert "SmartBERT achieves 2-3x computation reduction with minimal accuracy drop (Table 1). **not reproduced**" in text
    # a variant of another method, or one that did not run, adds nothing
    other = {**VARIANT_CONFIG, "variants": {"x": {"method": "pabee", "config": {}}, "y": {"method": "smartbert", "config": {}}}}
    assert variant_lines(lower, majority, other, methods=METHODS) == []
