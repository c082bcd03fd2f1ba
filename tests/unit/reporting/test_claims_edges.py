"""The claim rules at their boundaries (issue 31, item 4: tests that kill mutmut's survivors), on small
hand-made aggregates: DROP (1 point), MARGIN (0.5 points + the seeds' spread), the cost bars of Table
1's reduction (80% on every task, 50% on one), RTE/WNLI's 90%, skip-only's 95%, Table 2's 5%; the
verdict counting and the evidence lines a reader checks them by."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from smartbert.reporting import claims
from smartbert.reporting.methods import MethodCatalogue, MethodInfo
from tests.helpers import PAPER_DIR

MAJORITY = {"RTE": {"majority_class": {"metric": 52.7}}, "SST-2": {"majority_class": {"metric": 50.9}}}


def row(task: str, method: str, threshold: float, metric: float, cost: float, variant: str = "default",
        std: float = 0.0) -> dict:
    """One aggregated sweep point."""
    return {"task": task, "method": method, "variant": variant, "threshold": threshold, "metric": metric,
            "cost_pct_paper": cost, "metric_std": std, "avg_layers_run": 6.0}


def agg(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def curve(*pairs: tuple[float, float], std: float = 0.0) -> pd.DataFrame:
    """(cost %, metric) points of one model."""
    return pd.DataFrame([{"cost_pct_paper": c, "metric": m, "metric_std": std} for c, m in pairs])


def test_verdict_counts() -> None:
    assert claims._verdict(0, 0) == "not testable in this run"
    assert claims._verdict(3, 3) == "reproduced"
    assert claims._verdict(1, 3) == "partly reproduced"
    assert claims._verdict(0, 3) == "not reproduced"


@pytest.mark.parametrize("shift, outcome", [(0.5, "tie"), (0.51, "better"), (-0.5, "tie"), (-0.51, "worse")])
def test_compare_needs_a_gap_beyond_the_margin(shift: float, outcome: str) -> None:
    other = curve((50, 80.0), (100, 85.0))
    found = claims.compare(other.assign(metric=other["metric"] + shift), other)
    assert found.outcome == outcome and found.mean_gap == pytest.approx(shift)
    assert found.margin == claims.MARGIN and found.covered == 4 and found.points == 4


def test_the_margin_widens_by_the_mean_of_both_spreads() -> None:
    other = curve((50, 80.0), (100, 85.0), std=1.0)
    better = other.assign(metric=other["metric"] + 1.2, metric_std=0.2)
    found = claims.compare(better, other)
    assert found.margin == pytest.approx(0.5 + (0.2 + 1.0) / 2) and found.outcome == "better"
    assert claims.compare(other.assign(metric=other["metric"] + 1.0, metric_std=0.2), other).outcome == "tie"
    assert claims.compare(curve((50, 80.0)).drop(columns="metric_std"), curve((50, 79.0))).margin == claims.MARGIN


def test_compare_drops_points_at_the_majority_class_from_both() -> None:
    dead, alive = curve((50, 52.7), (100, 52.7)), curve((50, 80.0), (100, 85.0))
    worse = claims.compare(dead, alive, floor=52.7)
    assert worse.outcome == "worse" and math.isnan(worse.mean_gap) and worse.covered == 0 and worse.points == 2
    assert worse.describe() == "worse: no point above the majority class, against the other's"
    none = claims.compare(alive, dead, floor=52.7)
    assert none.outcome == "no evidence" and none.points == 2
    assert none.describe() == "no evidence (2 points above the majority class, none matched at equal or lower cost)"


def test_compare_counts_points_the_other_cannot_reach() -> None:
    """The curve starts at 60%: the other's 30% point is out of its reach, and the curve's points are all reachable."""
    smart, other = curve((60, 86.0), (100, 87.0)), curve((30, 80.0), (100, 85.0))
    found = claims.compare(smart, other)
    assert (found.uncovered_other, found.uncovered_curve, found.covered) == (1, 0, 3)
    assert found.mean_gap == pytest.approx(((87 - 85) + (86 - 80) + (87 - 85)) / 3)
    assert found.describe() == ("better: mean gap +3.33 points at equal cost over 3 of 4 points of both (margin 0.50); "
                                "1 of the other's points cost less than anything this reaches")
    back = claims.compare(other, smart)
    assert (back.uncovered_other, back.uncovered_curve) == (0, 1)
    assert back.describe().endswith("; 1 of its points cost less than anything the other reaches")


def test_dominance_verdict_by_hand() -> None:
    verdict = claims._dominance_verdict
    assert verdict({"deebert": ["better", "better", "tie"], "fastbert": ["better"]}) == "reproduced"
    assert verdict({"deebert": ["better", "tie"]}) == "partly reproduced"  # half is not more than half
    assert verdict({"deebert": ["better", "better", "worse"]}) == "partly reproduced"  # as many better as worse or more
    assert verdict({"deebert": ["better", "worse", "worse"]}) == "not reproduced"
    assert verdict({"deebert": ["tie", "tie"]}) == "not reproduced"
    assert verdict({"deebert": ["better", "better"], "fastbert": ["worse"]}) == "partly reproduced"
    assert verdict({"deebert": ["no evidence"], "fastbert": []}) == "not testable in this run"
    assert verdict({"deebert": ["no evidence", "better"]}) == "reproduced"  # no evidence is not counted


def test_cheapest_within_drop_at_tables_thresholds() -> None:
    rows = agg(row("RTE", "smartbert", 0.1, 70.0, 60.0), row("RTE", "smartbert", 0.3, 69.0, 40.0),
               row("RTE", "smartbert", 0.5, 68.9, 20.0), row("RTE", "smartbert", 0.7, 70.0, 10.0))
    best = claims.cheapest_within(rows, 70.0, 52.7, [0.1, 0.3, 0.5])
    assert best["threshold"] == 0.3 and best["cost_pct_paper"] == 40.0  # 69.0 is exactly 1 point below: within
    assert claims.cheapest_within(rows, 70.0, 69.0, [0.1, 0.3, 0.5])["threshold"] == 0.1  # 69.0 is at the floor
    assert claims.cheapest_within(rows, 71.5, 52.7, [0.1, 0.3, 0.5]) is None
    assert claims.cheapest_within(rows, 70.0, 52.7, [0.30000000000000004])["threshold"] == 0.3


def reduction_agg(cost_rte: float, cost_sst: float, sst_metric: float = 90.0) -> pd.DataFrame:
    return agg(row("RTE", "bert", 0.0, 70.0, 100.0), row("SST-2", "bert", 0.0, 91.0, 100.0),
               row("RTE", "smartbert", 0.3, 69.5, cost_rte), row("SST-2", "smartbert", 0.3, sst_metric, cost_sst))


@pytest.mark.parametrize("costs, verdict", [((80.0, 50.0), "reproduced"), ((80.01, 50.0), "partly reproduced"),
                                            ((80.0, 50.01), "partly reproduced"), ((85.0, 90.0), "not reproduced")])
def test_reduction_needs_every_task_at_80_and_one_at_50(costs: tuple[float, float], verdict: str) -> None:
    claim = claims.claim_reduction(reduction_agg(*costs), ["RTE", "SST-2"], [0.1, 0.3, 0.5], MAJORITY)
    assert claim.verdict == verdict
    assert claim.evidence[0] == (f"RTE: S=0.3 gives 69.5 vs BERT 70.0 at {costs[0]:.0f}% cost "
                                 f"(computation / {100.0 / costs[0]:.1f})")


def test_a_task_out_of_drop_counts_against_the_reduction() -> None:
    claim = claims.claim_reduction(reduction_agg(50.0, 40.0, sst_metric=89.9), ["RTE", "SST-2"], [0.1, 0.3, 0.5], MAJORITY)
    assert claim.verdict == "partly reproduced"
    assert claim.evidence[1] == "SST-2: no S in [0.1, 0.3, 0.5] within 1.0 points of BERT (91.0)"
    assert claims.claim_reduction(reduction_agg(50.0, 40.0), ["QNLI"], [0.3], MAJORITY).verdict == "not testable in this run"


def hard_agg(dee: float, fast: float, smart_cost: float, smart_metric: float = 69.5) -> pd.DataFrame:
    return agg(row("RTE", "bert", 0.0, 70.0, 100.0), row("RTE", "deebert", 0.5, 66.0, dee),
               row("RTE", "deebert", 0.3, 66.0, 10.0), row("RTE", "fastbert", 0.5, 67.0, fast),
               row("RTE", "smartbert", 0.5, smart_metric, smart_cost))


def test_hard_tasks_by_their_bars() -> None:
    assert claims.claim_hard_tasks(hard_agg(90.0, 95.0, 89.9), ["RTE"], MAJORITY).verdict == "reproduced"
    assert claims.claim_hard_tasks(hard_agg(89.9, 95.0, 89.9), ["RTE"], MAJORITY).verdict == "partly reproduced"
    assert claims.claim_hard_tasks(hard_agg(90.0, 95.0, 90.0), ["RTE"], MAJORITY).verdict == "partly reproduced"
    assert claims.claim_hard_tasks(hard_agg(90.0, 95.0, 60.0, 68.9), ["RTE"], MAJORITY).verdict == "partly reproduced"
    assert claims.claim_hard_tasks(hard_agg(50.0, 50.0, 95.0), ["RTE"], MAJORITY).verdict == "not reproduced"
    claim = claims.claim_hard_tasks(hard_agg(90.0, 95.0, 89.9), ["RTE", "SST-2"], MAJORITY)
    assert claim.evidence == ["RTE deebert S=0.5: 90% cost, metric 66.0", "RTE fastbert S=0.5: 95% cost, metric 67.0",
                              "RTE SmartBERT S=0.5: 90% cost, metric 69.5 (BERT 70.0)"]
    assert claims.claim_hard_tasks(hard_agg(90.0, 95.0, 89.9), ["SST-2"], MAJORITY).verdict == "not testable in this run"


def skip_agg(cost: float, metric: float) -> pd.DataFrame:
    return agg(row("SST-2", "bert", 0.0, 91.0, 100.0), row("SST-2", "smartbert", 0.0, metric, cost, variant="skiponly"))


def test_skip_only_by_its_bars() -> None:
    assert claims.claim_skip_only(skip_agg(94.9, 90.0), ["SST-2"], MAJORITY).verdict == "reproduced"
    assert claims.claim_skip_only(skip_agg(95.0, 90.0), ["SST-2"], MAJORITY).verdict == "not reproduced"
    assert claims.claim_skip_only(skip_agg(60.0, 89.9), ["SST-2"], MAJORITY).verdict == "not reproduced"
    # BERT at 51.5 learned (above 50.9); skip-only within DROP of it but at the majority class is no evidence
    near = agg(row("SST-2", "bert", 0.0, 51.5, 100.0), row("SST-2", "smartbert", 0.0, 50.9, 60.0, variant="skiponly"))
    assert claims.claim_skip_only(near, ["SST-2"], MAJORITY).verdict == "not reproduced"
    assert claims.claim_skip_only(near.assign(metric=[51.5, 51.0]), ["SST-2"], MAJORITY).verdict == "reproduced"
    claim = claims.claim_skip_only(skip_agg(94.9, 90.0), ["SST-2", "RTE"], MAJORITY)
    assert claim.evidence == ["SST-2: skip-only 90.0 at 95% cost (6.00 layers run), BERT 91.0"]


def test_cheap_heads_at_five_percent_of_a_layer() -> None:
    table2 = pd.DataFrame([
        {"component": "exit_classifier", "backbone": "bert-base", "row": "classifier", "paper_flops_M": 37.6,
         "paper_reports_M": 37.6, "pct_of_layer_paper": 5.0},
        {"component": "skip_gate", "backbone": "bert-base", "row": "gate", "paper_flops_M": 95.0,
         "paper_reports_M": float("nan"), "pct_of_layer_paper": 5.01},
        {"component": "layer", "backbone": "bert-base", "row": "layer", "paper_flops_M": 1811.8,
         "paper_reports_M": 1811.8, "pct_of_layer_paper": 100.0},
    ])
    claim = claims.claim_cheap_heads(table2)
    assert claim.verdict == "partly reproduced"
    assert claim.evidence == ["bert-base classifier: 37.6M FLOPs (paper: 37.6M) = 5.0% of a layer",
                              "bert-base gate: 95.0M FLOPs = 5.0% of a layer"]


def test_task_weights_say_which_tasks_can_test_the_paper() -> None:
    table = agg(row("RTE", "bert", 0.0, 52.7, 100.0), row("SST-2", "bert", 0.0, 91.0, 100.0))
    weights = claims.task_weights(table, MAJORITY, ["RTE", "SST-2", "QNLI"], None)
    assert [w.learned for w in weights] == [False, True, False]
    assert weights[1].describe() == "yes: BERT 91.0, +40.1 over the majority class 50.9"
    assert weights[0].describe() == "**no**: BERT 52.7 is at or below the majority class 52.7; its verdicts test nothing"
    assert weights[2].describe() == "BERT was not run"
    paper = claims.TaskWeight("SST-2", 91.0, 50.9, 93.5)
    assert paper.describe() == "yes: BERT 91.0, +40.1 over the majority class 50.9; the paper's BERT-base 93.5 (-2.5)"


def test_bert_metrics_and_smartbert_thresholds() -> None:
    table = agg(row("RTE", "bert", 0.0, 70.0, 100.0), row("RTE", "smartbert", 0.3, 69.0, 50.0),
                row("SST-2", "smartbert", 0.3, 90.0, 50.0), row("SST-2", "bert", 0.0, 91.0, 100.0))
    assert claims.bert_metrics(table) == {"RTE": 70.0, "SST-2": 91.0}
    catalogue = MethodCatalogue([MethodInfo("smartbert", "SmartBERT", "entropy")])
    assert claims.smartbert_thresholds({"thresholds": {"entropy": [0.2, 0.4]}}, catalogue) == [0.2, 0.4]
    assert claims.smartbert_thresholds({"thresholds": {}}, catalogue) == [0.1, 0.3, 0.5]


def test_the_papers_tables_read_as_one_aggregate() -> None:
    """Tables 1 and 3 transcribed (99 + 6 rows; Table 3 repeats BERT on SST-2, RTE and WNLI): 102 points,
    one seed each, BERT's missing threshold read as 0 and its rule 'none', like skip-only's."""
    agg, majority = claims.paper_results(PAPER_DIR)
    assert len(agg) == 102 and agg.index.is_unique
    assert not agg.duplicated(["task", "method", "variant", "threshold"]).any()
    bert = agg[agg["method"] == "bert"]
    assert len(bert) == 9 and (bert["threshold"] == 0.0).all() and set(bert["policy"]) == {"none"}
    assert set(agg.loc[agg["method"] == "distilbert", "policy"]) == {"none"}
    assert set(agg.loc[agg["variant"] == "skiponly", "policy"]) == {"none"}
    assert set(agg.loc[agg["method"].isin(["deebert", "fastbert"]), "policy"]) == {"entropy"}
    assert set(agg.loc[(agg["method"] == "smartbert") & (agg["variant"] == "default"), "policy"]) == {"entropy"}
    assert (agg["metric_std"] == 0.0).all() and (agg["n_seeds"] == 1).all() and agg["avg_layers_run"].isna().all()
    sst = bert.set_index("task").loc["SST-2"]
    assert (sst["metric"], sst["cost_pct_paper"], sst["avg_flops_paper_M"]) == (93.2, 100, 21744)
    assert majority["SST-2"] == {"task": "SST-2", "main_metric": "accuracy", "majority_class": {"metric": 50.9}}


def test_task_weights_read_the_papers_bert() -> None:
    table = agg(row("SST-2", "bert", 0.0, 91.0, 100.0), row("RTE", "bert", 0.0, 52.0, 100.0))
    weights = claims.task_weights(table, MAJORITY, ["SST-2", "RTE"], PAPER_DIR)
    assert [w.paper_bert for w in weights] == [93.2, 61.0]
    assert weights[0].describe() == "yes: BERT 91.0, +40.1 over the majority class 50.9; the paper's BERT-base 93.2 (-2.2)"
    assert weights[1].describe() == ("**no**: BERT 52.0 is at or below the majority class 52.7; the paper's BERT-base 61.0 "
                                     "(-9.0); its verdicts test nothing")


def test_paper_table2_as_claim_cheap_heads_reads_it() -> None:
    table2 = claims.paper_table2(PAPER_DIR)
    assert table2["component"].tolist() == ["layer", "exit_classifier", "skip_gate"]
    assert set(table2["backbone"]) == {"paper"} and table2["row"].tolist() == table2["component"].tolist()
    assert table2["pct_of_layer_paper"].tolist() == pytest.approx([100.0, 100 * 37.6 / 1811.8, 100 * 37.4 / 1811.8])
    assert table2["paper_reports_M"].tolist() == [1811.8, 37.6, 37.4]


def ablation_agg() -> pd.DataFrame:
    """RTE: BERT at the majority class (not counted). SST-2: the default 2 points above 'nocontrast'
    at the same costs, and the same as 'soft'. QNLI: only the variant ran (nothing to compare)."""
    rows = [row("RTE", "bert", 0.0, 52.7, 100.0), row("SST-2", "bert", 0.0, 92.0, 100.0),
            row("RTE", "smartbert", 0.3, 60.0, 50.0), row("RTE", "smartbert", 0.3, 58.0, 50.0, variant="nocontrast")]
    for cost, metric in ((50.0, 91.0), (70.0, 91.5)):
        rows += [row("SST-2", "smartbert", cost / 100, metric, cost), row("SST-2", "smartbert", cost / 100, metric - 2.0, cost, variant="nocontrast"),
                 row("SST-2", "smartbert", cost / 100, metric, cost, variant="soft")]
    rows.append(row("QNLI", "smartbert", 0.3, 80.0, 60.0, variant="nocontrast"))
    return agg(*rows)


def test_ablation_reads_each_task_in_order_and_names_the_comparison() -> None:
    claim = claims.claim_ablation(ablation_agg(), "Contrast helps.", "default", ["nocontrast"], "contrast", MAJORITY)
    assert claim.claim == "Contrast helps." and claim.verdict == "reproduced"
    assert claim.rule.startswith("per compared variant: contrast's attainable metric at the variant's points is better by more than 0.5")
    assert claim.evidence[0].startswith("RTE: not counted: BERT (52.7) is at or below the majority class (52.7)")
    assert claim.evidence[1] == ("SST-2: contrast vs nocontrast: better: mean gap +2.00 points at equal cost over 4 of 4 "
                                 "points of both (margin 0.50); mean cost 60% vs 60%")
    assert len(claim.evidence) == 2  # QNLI: the default did not run there
    assert claims.claim_ablation(ablation_agg(), "SP helps.", "default", ["soft"], "SP", MAJORITY).verdict == "not reproduced"


def test_evaluate_claims_passes_the_majority_class_and_the_configured_variants_down() -> None:
    table = ablation_agg()
    config = {"tasks": ["RTE", "SST-2"], "methods": ["deebert"], "thresholds": {},
              "tables": {"table3_tasks": ["RTE", "MRPC"]}, "figures": {"fig5_variants": ["nocontrast"], "fig6_variants": ["soft"]}}
    catalogue = MethodCatalogue([MethodInfo("smartbert", "SmartBERT", "entropy")])
    table2 = claims.paper_table2(PAPER_DIR)
    found = claims.evaluate_claims(table, MAJORITY, config, table2, methods=catalogue)
    assert [c.claim for c in found] == [
        "SmartBERT achieves 2-3x computation reduction with minimal accuracy drop (Table 1).",
        "SmartBERT is better than DeeBERT and FastBERT at the same computational cost (Figure 4).",
        "On RTE and WNLI entropy-based exits hardly reduce computation (DeeBERT, FastBERT at S=0.5), "
        "while SmartBERT's skipping still saves with minimal drop (Table 1).",
        "The skipping mechanism alone reduces computation compared with BERT (Table 3).",
        "Cross-layer contrastive learning further reduces computation (Figure 5).",
        "The special training way (SP) beats soft and hard gate training (Figure 6).",
        "Skipping gates and classifiers cost far less than a Transformer layer (Table 2).",
    ]
    # RTE (BERT at the majority class) is named as not counted wherever it would count ('soft' did not run there)
    for claim in (found[0], found[2], found[4]):
        assert any(line.startswith("RTE: not counted") for line in claim.evidence), claim.claim
    assert found[4].verdict == "reproduced" and "contrast's attainable metric" in found[4].rule
    assert found[5].verdict == "not reproduced" and "SP's attainable metric" in found[5].rule
    assert found[0].verdict == "reproduced"  # SST-2 at 50% within 1 point of BERT (S=0.5 of the default thresholds)


def test_dominance_compares_only_the_baselines_the_run_has() -> None:
    table = agg(row("SST-2", "bert", 0.0, 92.0, 100.0), row("SST-2", "smartbert", 0.5, 91.0, 50.0),
                row("SST-2", "deebert", 0.5, 88.0, 50.0), row("SST-2", "fastbert", 0.5, 95.0, 50.0))
    catalogue = MethodCatalogue([MethodInfo("smartbert", "SmartBERT", "entropy")])
    for methods, verdict, named in ((["deebert"], "reproduced", "deebert"), (["fastbert"], "not reproduced", "fastbert")):
        config = {"thresholds": {}, "methods": methods}
        dominance = claims.curve_claims(table, MAJORITY, config, ["SST-2"], methods=catalogue)[1]
        assert dominance.verdict == verdict and [line.split(":")[0] for line in dominance.evidence] == [f"SST-2 vs {named}"]


def test_a_baseline_without_a_point_at_s_half_is_not_counted() -> None:
    table = hard_agg(95.0, 95.0, 60.0)
    table = table[~((table["method"] == "fastbert") & (table["threshold"] == 0.5))]
    claim = claims.claim_hard_tasks(table, ["RTE"], MAJORITY)
    assert claim.verdict == "reproduced" and len(claim.evidence) == 2
    assert claims._at(table[table["method"] == "fastbert"], 0.5) is None


def test_a_variant_is_read_with_the_majority_class() -> None:
    table = ablation_agg()
    config = {"tasks": ["RTE", "SST-2"], "methods": [], "thresholds": {}}
    catalogue = MethodCatalogue([MethodInfo("smartbert", "SmartBERT", "entropy")])
    reduction = claims.variant_claims(table, MAJORITY, config, "nocontrast", methods=catalogue)[0]
    assert reduction.evidence[0].startswith("RTE: not counted")


def test_hard_tasks_statement_rule_and_drop_boundary() -> None:
    claim = claims.claim_hard_tasks(hard_agg(90.0, 95.0, 60.0, 69.0), ["RTE"], MAJORITY)  # 69.0: exactly 1 point below
    assert claim.verdict == "reproduced"
    assert claim.claim == ("On RTE and WNLI entropy-based exits hardly reduce computation (DeeBERT, FastBERT at S=0.5), "
                           "while SmartBERT's skipping still saves with minimal drop (Table 1).")
    assert claim.rule == "baselines at S=0.5 cost >= 90%; SmartBERT at S=0.5 costs < 90% within 1 points of BERT"


def test_hard_tasks_read_wnli_after_an_uncounted_rte_and_need_berts_metric() -> None:
    wnli = hard_agg(95.0, 95.0, 60.0).assign(task="WNLI")
    rte = agg(row("RTE", "bert", 0.0, 52.7, 100.0), row("RTE", "smartbert", 0.5, 52.0, 50.0))
    claim = claims.claim_hard_tasks(pd.concat([rte, wnli], ignore_index=True), ["RTE", "WNLI"], MAJORITY)
    assert claim.evidence[0].startswith("RTE: not counted") and claim.verdict == "reproduced"
    assert [line.split(" S=")[0] for line in claim.evidence[1:]] == ["WNLI deebert", "WNLI fastbert", "WNLI SmartBERT"]
    no_bert = wnli[wnli["method"] != "bert"]
    found = claims.claim_hard_tasks(no_bert, ["WNLI"], MAJORITY)
    assert found.verdict == "reproduced" and len(found.evidence) == 2  # SmartBERT cannot be read without BERT


def test_skip_only_reads_every_task_and_its_drop_boundary() -> None:
    table = pd.concat([agg(row("RTE", "bert", 0.0, 52.7, 100.0), row("RTE", "smartbert", 0.0, 52.0, 50.0, variant="skiponly"),
                           row("QNLI", "bert", 0.0, 90.0, 100.0)), skip_agg(60.0, 90.0)], ignore_index=True)
    claim = claims.claim_skip_only(table, ["MRPC", "QNLI", "RTE", "SST-2"], MAJORITY)  # 90.0: exactly 1 below 91.0
    assert claim.verdict == "reproduced"
    assert claim.evidence[0].startswith("RTE: not counted") and claim.evidence[1].startswith("SST-2: skip-only 90.0")
    assert claim.claim == "The skipping mechanism alone reduces computation compared with BERT (Table 3)."
    assert claim.rule == "skip-only costs < 95% and stays within 1 points of BERT"


def test_comparisons_without_a_gap_keep_their_margin_and_count() -> None:
    dead, alive = curve((50, 52.7)), curve((50, 80.0), (100, 85.0))
    worse, none = claims.compare(dead, alive, floor=52.7), claims.compare(alive, dead, floor=52.7)
    assert (worse.margin, worse.covered, none.margin, none.covered) == (claims.MARGIN, 0, claims.MARGIN, 0)
    assert math.isnan(none.mean_gap)


def test_both_kinds_of_unreachable_points_are_listed() -> None:
    """The curve reaches 40-100%, the other 30-60%: one point each cheaper than the other's cheapest."""
    found = claims.compare(curve((20, 80.0), (100, 90.0)), curve((30, 80.0), (60, 84.0)))
    assert (found.uncovered_other, found.uncovered_curve) == (0, 1)
    both = claims.compare(curve((40, 80.0), (100, 90.0)), curve((30, 70.0), (35, 75.0), (60, 84.0)))
    assert (both.uncovered_other, both.uncovered_curve) == (2, 0)
    mixed = claims.Comparison(1.0, 0.5, 2, 4, "better", uncovered_other=1, uncovered_curve=1)
    assert mixed.describe().endswith("; 1 of the other's points cost less than anything this reaches; "
                                     "1 of its points cost less than anything the other reaches")


def test_as_many_better_as_worse_tasks_is_partly() -> None:
    assert claims._dominance_verdict({"deebert": ["better", "worse"]}) == "partly reproduced"


def test_skip_only_evidence_without_layer_counts() -> None:
    claim = claims.claim_skip_only(skip_agg(60.0, 90.0).assign(avg_layers_run=float("nan")), ["SST-2"], MAJORITY)
    assert claim.evidence == ["SST-2: skip-only 90.0 at 60% cost, BERT 91.0"]


def test_task_weights_name_their_task() -> None:
    table = agg(row("SST-2", "bert", 0.0, 91.0, 100.0))
    assert [w.task for w in claims.task_weights(table, MAJORITY, ["SST-2", "RTE"], None)] == ["SST-2", "RTE"]
