"""Sweep aggregation, integrity, the tables' layout and the report's claim rules, on hand-made sweeps."""

from __future__ import annotations

import pandas as pd
import pytest

from smartbert.app.catalogue import method_catalogue
from smartbert.app.steps import backbone_costs
from smartbert.core.errors import SmartBertError
from smartbert.reporting import claims, report, table_files, tables
from smartbert.reporting.results import aggregate, check_integrity, load_sweeps

METHODS = method_catalogue()

MAJORITY = {"RTE": {"task": "RTE", "main_metric": "accuracy", "majority_class": {"metric": 52.7}}}


def sweep_rows(method, variant, policy, points, seed=1, experiment="e1", task="RTE"):
    """points: [(threshold, metric, cost %, layers run, layers skipped)]."""
    return [{"task": task, "method": method, "variant": variant, "policy": policy, "threshold": t, "metric": m,
             "cost_pct_paper": c, "cost_pct_fvcore": c, "avg_flops_paper_M": 27.2 * c, "avg_macs_fvcore_M": 14.4 * c,
             "avg_layers_run": run, "avg_layers_skipped": skipped, "avg_exit_layer": run, "seed": seed,
             "experiment_hash": f"{method}-{variant}-{experiment}", "n": 277, "file": f"{method}/{variant}/seed{seed}.csv"}
            for t, m, c, run, skipped in points]


def frame(*groups):
    return pd.DataFrame([row for group in groups for row in group])


def test_aggregate_means_and_stds_over_seeds():
    rows = frame(sweep_rows("bert", "default", "none", [(0.0, 56.0, 100.0, 6, 0)], seed=1),
                 sweep_rows("bert", "default", "none", [(0.0, 58.0, 100.0, 6, 0)], seed=2))
    agg = aggregate(check_integrity(rows))
    assert len(agg) == 1
    assert agg.loc[0, "metric"] == pytest.approx(57.0)
    assert agg.loc[0, "metric_std"] == pytest.approx(2 ** 0.5)
    assert agg.loc[0, "n_seeds"] == 2 and agg.loc[0, "seeds"] == "1,2"


def test_tables_refuse_to_mix_configurations():
    rows = frame(sweep_rows("bert", "default", "none", [(0.0, 56.0, 100.0, 6, 0)], seed=1, experiment="a"),
                 sweep_rows("bert", "default", "none", [(0.0, 58.0, 100.0, 6, 0)], seed=2, experiment="b"))
    with pytest.raises(SmartBertError, match="mixes results of 2 different configurations"):
        check_integrity(rows)


def test_tables_refuse_one_seed_twice():
    rows = frame(sweep_rows("bert", "default", "none", [(0.0, 56.0, 100.0, 6, 0)]),
                 [dict(r, file="elsewhere.csv") for r in sweep_rows("bert", "default", "none", [(0.0, 56.0, 100.0, 6, 0)])])
    with pytest.raises(SmartBertError, match="seed 1 in more than one file"):
        check_integrity(rows)


def test_load_sweeps_names_a_missing_column(tmp_path):
    path = tmp_path / "old.csv"
    pd.DataFrame({"task": ["RTE"], "metric": [50.0], "format_version": [1]}).to_csv(path, index=False)
    with pytest.raises(SmartBertError, match="lacks column"):
        load_sweeps([path])


@pytest.fixture
def agg():
    return aggregate(frame(
        sweep_rows("bert", "default", "none", [(0.0, 60.0, 100.0, 6, 0)]),
        sweep_rows("deebert", "default", "entropy", [(0.1, 60.0, 100.0, 6, 0), (0.3, 59.0, 99.0, 6, 0), (0.5, 52.7, 98.0, 6, 0)]),
        sweep_rows("smartbert", "default", "entropy", [(0.1, 59.5, 45.0, 3, 3), (0.3, 59.5, 40.0, 3, 3), (0.5, 58.0, 30.0, 2, 3)]),
        sweep_rows("smartbert", "skiponly", "none", [(0.0, 59.5, 50.0, 3, 3)]),
    ))


def test_table1_layout_has_paper_rows_and_a_majority_row(agg):
    tidy = tables.table1(agg, MAJORITY, {"entropy": [0.1, 0.3, 0.5]}, methods=METHODS)
    assert list(tidy["row"]) == ["BERT", "DeeBERT (S=0.1)", "DeeBERT (S=0.3)", "DeeBERT (S=0.5)", "SmartBERT (S=0.1)",
                                 "SmartBERT (S=0.3)", "SmartBERT (S=0.5)", "majority class"]
    assert tidy.set_index("row").loc["DeeBERT (S=0.5)", "degenerate"]  # at the majority class
    assert not tidy.set_index("row").loc["BERT", "degenerate"]
    shown = tables.wide(tidy)
    assert list(shown.columns) == ["model", "RTE Acc", "RTE FLOPs (cost)"]
    assert shown.iloc[-1]["model"] == "majority class" and shown.iloc[-1]["RTE Acc"] == "52.7"
    assert shown.iloc[3]["RTE Acc"].endswith("(!)")
    assert "| SmartBERT (S=0.5) | 58.0 |" in table_files.to_markdown(shown)
    assert r"\begin{tabular}" in table_files.to_latex(shown, "caption 50%") and r"50\%" in table_files.to_latex(shown, "caption 50%")


def test_table3_is_bert_beside_skip_only(agg):
    tidy = tables.table3(agg, MAJORITY, ["RTE"], methods=METHODS)
    assert list(tidy["row"]) == ["BERT", "SmartBERT skip-only", "majority class"]


def test_table3_of_a_run_without_its_tasks_is_empty_not_an_error(agg):
    """A run narrowed to one task outside Table 3's (cpu-full's MRPC sitting) still writes its tables."""
    assert tables.table3(agg, MAJORITY, ["WNLI"], methods=METHODS).empty


def test_paper_vs_repro_deltas(agg):
    tidy = tables.table1(agg, MAJORITY, {"entropy": [0.1, 0.3, 0.5]}, methods=METHODS)
    paper = pd.read_csv("results/paper/table1.csv")
    both = tables.paper_vs_repro(tidy, paper).set_index("row")
    assert both.loc["BERT", "paper_metric"] == pytest.approx(61.0)
    assert both.loc["BERT", "delta_metric"] == pytest.approx(-1.0)
    assert both.loc["SmartBERT (S=0.5)", "delta_cost_pct"] == pytest.approx(30.0 - 58.0)


def test_paper_transcription_matches_the_papers_table1():
    paper = pd.read_csv("results/paper/table1.csv")
    assert len(paper) == 11 * 9  # 11 rows x 9 task columns
    row = paper[(paper.task == "SST-2") & (paper.method == "smartbert") & (paper.threshold == 0.3)].iloc[0]
    assert (row.metric, row.flops_M, row.cost_pct) == (91.9, 5706, 26)


def test_table2_against_the_paper():
    paper = pd.read_csv("results/paper/table2.csv")
    tidy = tables.table2(backbone_costs(["bert-base-uncased"], 128), paper).set_index("component")
    assert tidy.loc["layer", "paper_flops_M"] == pytest.approx(1811.8, rel=1e-3)
    assert tidy.loc["exit_classifier", "paper_flops_M"] == pytest.approx(37.6, rel=0.02)
    assert tidy.loc["skip_gate", "pct_of_layer_paper"] < 2.5


def test_report_rules(agg):
    reduction = claims.claim_reduction(agg, ["RTE"], [0.1, 0.3, 0.5])
    assert reduction.verdict == "reproduced"  # S=0.5: 58.0 is 2 points below: not minimal; S=0.3 at 40% is
    assert "S=0.3" in reduction.evidence[0]
    dominance = claims.claim_dominance(agg, ["RTE"], ["deebert"], MAJORITY)
    # DeeBERT's 60.0 at 100% and 59.0 at 99% against SmartBERT's 59.5 at 45%: gaps -0.5 and +0.5, a tie
    # (its S=0.5 point sits at the majority class: evidence for no one)
    assert dominance.verdict == "not reproduced" and "tie: mean gap +0.00" in dominance.evidence[0]
    assert "over 2 of 5 points of both" in dominance.evidence[0] and "3 of its points cost less" in dominance.evidence[0]
    hard = claims.claim_hard_tasks(agg, ["RTE"])
    assert hard.verdict == "partly reproduced"  # DeeBERT stays expensive, SmartBERT S=0.5 drops 2 points
    skip = claims.claim_skip_only(agg, ["RTE"])
    assert skip.verdict == "reproduced"
    assert claims.claim_skip_only(agg, ["WNLI"]).verdict == "not testable in this run"


def test_report_flags_degenerate_and_collapsed():
    agg = aggregate(frame(
        sweep_rows("deebert", "default", "entropy", [(0.1, 52.7, 100.0, 6, 0)]),
        sweep_rows("smartbert", "default", "entropy", [(0.1, 57.0, 6.5, 0, 6)]),
    ))
    flags = report.degenerate_results(agg, MAJORITY)
    assert any("deebert" in f and "learned nothing" in f for f in flags)
    assert any("smartbert/default" in f and "collapsed" in f for f in flags)


def test_never_skipping_gates_are_flagged_for_every_gated_variant_once():
    """The default's gates through its skip-only row; a variant's (e.g. a gate initialisation) through its
    own full-cost point; the default's exit curve is not flagged a second time."""
    agg = aggregate(frame(
        sweep_rows("smartbert", "default", "entropy", [(0.0, 58.0, 104.0, 6, 0), (0.3, 57.0, 60.0, 3, 0)]),
        sweep_rows("smartbert", "skiponly", "none", [(0.0, 58.0, 100.0, 6, 0)]),
        sweep_rows("smartbert", "gatesrun", "entropy", [(0.0, 59.0, 104.0, 6, 0), (0.3, 58.0, 60.0, 3, 0)]),
        sweep_rows("smartbert", "soft", "entropy", [(0.0, 59.0, 80.0, 4, 2)]),
    ))
    never = [f for f in report.degenerate_results(agg, MAJORITY) if "never skip" in f]
    assert sorted(f.split(":")[0] for f in never) == ["RTE smartbert/gatesrun", "RTE smartbert/skiponly"]


def test_report_does_not_count_tasks_where_bert_learned_nothing():
    majority = {"MRPC": {"task": "MRPC", "main_metric": "f1", "majority_class": {"metric": 81.2}}}
    agg = aggregate(frame(
        sweep_rows("bert", "default", "none", [(0.0, 81.2, 100.0, 6, 0)], task="MRPC"),
        sweep_rows("deebert", "default", "entropy", [(0.1, 81.2, 100.0, 6, 0)], task="MRPC"),
        sweep_rows("smartbert", "default", "entropy", [(0.1, 81.2, 40.0, 2, 4)], task="MRPC"),
    ))
    for claim in (claims.claim_reduction(agg, ["MRPC"], [0.1], majority), claims.claim_dominance(agg, ["MRPC"], ["deebert"], majority)):
        assert claim.verdict == "not testable in this run"
        assert "not counted" in claim.evidence[0]
    smart, deebert = agg[agg.method == "smartbert"], agg[agg.method == "deebert"]
    assert claims.compare(smart, deebert, floor=81.2).outcome == "no evidence"  # majority-class models prove nothing


def test_table1_latency_column_joins_by_task_method_and_threshold(agg):
    latency = pd.DataFrame({"task": "RTE", "method": ["bert", "smartbert", "smartbert"], "threshold": [0.0, 0.1, 0.3],
                            "ms_per_example": [10.0, 6.0, 5.5]})
    tidy = tables.table1(agg, MAJORITY, {"entropy": [0.1, 0.3, 0.5]}, latency, methods=METHODS).set_index("row")
    assert tidy.loc["BERT", "ms_per_example"] == 10.0 and tidy.loc["SmartBERT (S=0.3)", "ms_per_example"] == 5.5
    assert pd.isna(tidy.loc["SmartBERT (S=0.5)", "ms_per_example"]) and pd.isna(tidy.loc["DeeBERT (S=0.1)", "ms_per_example"])
    shown = tables.wide(tidy.reset_index())
    assert list(shown.columns) == ["model", "RTE Acc", "RTE FLOPs (cost)", "RTE ms"]
    assert shown.set_index("model").loc["SmartBERT (S=0.1)", "RTE ms"] == "6.0"


def test_report_sets_measured_speedup_beside_the_flops_prediction():
    from smartbert.reporting.report import latency_lines

    latency = pd.DataFrame({"task": "RTE", "method": ["bert", "smartbert"], "label": ["BERT", "SmartBERT"],
                            "policy": ["none", "entropy"], "threshold": [0.0, 0.3], "cost_pct": [100.0, 50.0],
                            "ms_per_example": [10.0, 8.0], "measured_speedup": [1.0, 1.25], "flops_speedup": [1.0, 2.0],
                            "measured_over_flops": [1.0, 0.625]})
    lines = latency_lines(latency, methods=METHODS)
    assert "| RTE | SmartBERT (S=0.3) | 50% | 2.00x | 8.0 | 1.25x | 0.62 |" in lines
    assert not any("| BERT |" in line for line in lines)
    assert latency_lines(latency.iloc[:0], methods=METHODS) == ["- not measured in this run (`latency.examples: 0`)"]


def test_report_names_the_devices_the_sweeps_and_latency_recorded() -> None:
    """REPORT.md says where models were trained, traced and timed from what the files recorded,
    and says "not recorded" for files written before devices were recorded (never the report's machine)."""
    import pandas as pd

    from smartbert.reporting.report import device_lines
    from smartbert.reporting.tables import latency_devices

    sweeps = pd.DataFrame({"train_device": ["cuda:0 NVIDIA H200 (sm 9.0, CUDA 13.0), fp32", None],
                           "trace_device": ["cpu x86_64 x2 threads", "cpu x86_64 x2 threads"]})
    latency = pd.DataFrame({"device": ["cpu x86_64 x2 threads"]})
    assert device_lines(sweeps, latency) == ["trained on: cuda:0 NVIDIA H200 (sm 9.0, CUDA 13.0), fp32",
                                             "traced on: cpu x86_64 x2 threads", "latency timed on: cpu x86_64 x2 threads"]
    old = device_lines(pd.DataFrame({"seed": [1]}), pd.DataFrame())
    assert old == ["trained on: not recorded (sweeps written before the suite recorded devices)",
                   "traced on: not recorded (sweeps written before the suite recorded devices)"]
    table = pd.DataFrame({"ms_per_example": [1.5, float("nan")], "latency_device": ["cpu x86_64 x2 threads", "gpu?"]})
    assert latency_devices(table) == "timed on cpu x86_64 x2 threads"


def test_curve_tables_average_each_seeds_area_and_leave_static_models_out():
    from smartbert.reporting.curve_table import curve_tables

    sweeps = frame(
        sweep_rows("bert", "default", "none", [(0.0, 60.0, 100.0, 6, 0)]),
        sweep_rows("deebert", "default", "entropy", [(0.1, 58.0, 100.0, 6, 0), (0.5, 54.0, 40.0, 3, 0)], seed=1),
        sweep_rows("deebert", "default", "entropy", [(0.1, 60.0, 100.0, 6, 0), (0.5, 56.0, 40.0, 3, 0)], seed=2),
        sweep_rows("smartbert", "default", "entropy", [(0.1, 59.0, 80.0, 5, 1), (0.5, 57.0, 20.0, 1, 2)], seed=1),
        sweep_rows("smartbert", "default", "entropy", [(0.1, 61.0, 80.0, 5, 1), (0.5, 57.0, 20.0, 1, 2)], seed=2),
        sweep_rows("smartbert", "nocontrast", "entropy", [(0.1, 58.0, 90.0, 5, 1), (0.5, 55.0, 60.0, 3, 2)], seed=1),
    )
    latency = pd.DataFrame([{"task": "RTE", "method": m, "threshold": t, "metric": metric, "measured_speedup": speedup}
                            for m, t, metric, speedup in [("bert", 0.0, 60.0, 1.0), ("smartbert", 0.1, 10.0, 1.25),
                                                          ("smartbert", 0.5, 10.0, 2.5), ("deebert", 0.1, 10.0, 1.0),
                                                          ("deebert", 0.5, 10.0, 2.0)]])  # metrics of the timed sample
    auc, between = curve_tables(sweeps, latency)
    ablation = auc[auc["variant"] == "nocontrast"].iloc[0]  # its own range with SmartBERT's default: [60, 80]
    assert (ablation["lo"], ablation["hi"]) == (60.0, 80.0) and ablation["auc"] == pytest.approx(55.0)
    flops = auc[(auc["axis"] == "flops") & (auc["variant"] == "default")].set_index("method")
    assert set(flops.index) == {"deebert", "smartbert"}  # BERT: one point, no curve
    assert (flops["lo"] == 40.0).all() and (flops["hi"] == 80.0).all()  # SmartBERT's dearest point: 80%
    # DeeBERT seed 1: 54 on [40, 80); seed 2: 56 -> 55 +- 1.41; SmartBERT: 57 on [40, 80) in both seeds
    assert flops.loc["deebert", "auc"] == pytest.approx(55.0) and flops.loc["deebert", "auc_std"] == pytest.approx(2 ** 0.5)
    assert flops.loc["smartbert", "auc"] == pytest.approx(57.0) and flops.loc["smartbert", "n_seeds"] == 2
    gap = between[(between["axis"] == "flops") & (between["baseline"] == "deebert")].iloc[0]
    assert (gap["lo"], gap["hi"]) == (40.0, 80.0)
    assert gap["mean_gap"] == pytest.approx(((57 - 54) + (57 - 56)) / 2) and gap["mean_gap_std"] == pytest.approx(2 ** 0.5)
    assert gap["share_above"] == 1.0 and gap["share_below"] == 0.0
    timed = between[between["axis"] == "latency"].iloc[0]  # % of BERT's ms: SmartBERT 80 and 40, DeeBERT 100 and 50
    assert (timed["lo"], timed["hi"]) == (50.0, 80.0) and timed["mean_gap"] == pytest.approx(57 - 54)  # dev metrics, seed 1
