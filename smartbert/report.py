"""REPORT.md: each claim of the paper, whether this run reproduces it, with the numbers.

Verdicts come from fixed rules stated beside each claim (never tuned to a result): "minimal
accuracy drop" is at most ``DROP`` points below BERT; "better at the same cost" is the share of a
baseline's sweep points that SmartBERT matches or beats at equal or lower cost. A task on which
BERT itself is at or below the majority class cannot test a claim and is not counted, and a
result at or below the majority class never counts as a success. Degenerate results (at or
below the majority class; gates that skip every layer or none) are flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from smartbert.io import atomic_write_text
from smartbert.results import majority_floor

DROP = 1.0          # points of metric: "minimal accuracy drop"
WIN_SHARE = 0.75    # share of baseline points beaten for "better at the same cost"
EXPENSIVE = 90.0    # cost % at which early exit "hardly reduces computation"
SAVES = 95.0        # cost % below which a mechanism "saves computation"


@dataclass
class Claim:
    claim: str
    rule: str
    verdict: str
    evidence: list[str]


def _verdict(hits: int, total: int) -> str:
    if total == 0:
        return "not testable in this run"
    if hits == total:
        return "reproduced"
    return "partly reproduced" if hits else "not reproduced"


def _rows(agg: pd.DataFrame, task: str, method: str, variant: str = "default") -> pd.DataFrame:
    return agg[(agg["task"] == task) & (agg["method"] == method) & (agg["variant"] == variant)]


def _bert(agg: pd.DataFrame, task: str) -> float | None:
    rows = _rows(agg, task, "bert")
    return float(rows["metric"].iloc[0]) if len(rows) else None


def uninformative(agg: pd.DataFrame, majority: dict[str, dict], task: str) -> str | None:
    """Why ``task`` cannot test a claim (BERT itself at or below the majority class), or None."""
    bert = _bert(agg, task)
    if bert is not None and bert <= majority_floor(majority, task) + 1e-9:
        return (f"{task}: not counted: BERT ({bert:.1f}) is at or below the majority class "
                f"({majority_floor(majority, task):.1f}), so there is no accuracy to keep")
    return None


def _at(rows: pd.DataFrame, threshold: float) -> pd.Series | None:
    hit = rows[rows["threshold"].apply(lambda t: math.isclose(t, threshold))]
    return hit.iloc[0] if len(hit) else None


def beaten_share(curve: pd.DataFrame, baseline: pd.DataFrame, floor: float = -math.inf) -> tuple[int, int]:
    """How many of ``baseline``'s points ``curve`` matches or beats (metric) at equal or lower cost;
    only ``curve`` points above ``floor`` (the majority class) count: a degenerate model wins nothing."""
    wins = 0
    curve = curve[curve["metric"] > floor + 1e-9]
    for point in baseline.itertuples(index=False):
        cheaper = curve[curve["cost_pct_paper"] <= point.cost_pct_paper + 1e-9]
        wins += bool(len(cheaper)) and cheaper["metric"].max() >= point.metric
    return wins, len(baseline)


def claim_reduction(agg: pd.DataFrame, tasks: Sequence[str], thresholds: Sequence[float],
                    majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in tasks:
        bert, rows = _bert(agg, task), _rows(agg, task, "smartbert")
        if bert is None or rows.empty:
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        total += 1
        ok = rows[(rows["threshold"].apply(lambda t: any(math.isclose(t, s) for s in thresholds)))
                  & (rows["metric"] >= bert - DROP) & (rows["metric"] > majority_floor(majority, task) + 1e-9)]
        if ok.empty:
            evidence.append(f"{task}: no S in {list(thresholds)} within {DROP} points of BERT ({bert:.1f})")
            continue
        best = ok.sort_values("cost_pct_paper").iloc[0]
        speedup = 100.0 / best["cost_pct_paper"]
        hits += speedup >= 2.0
        evidence.append(f"{task}: S={best['threshold']:g} gives {best['metric']:.1f} vs BERT {bert:.1f} at "
                        f"{best['cost_pct_paper']:.0f}% cost (computation / {speedup:.1f})")
    return Claim("SmartBERT achieves 2-3x computation reduction with minimal accuracy drop (Table 1).",
                 f"per task: the cheapest S in Table 1 within {DROP} points of BERT needs <= 50% cost",
                 _verdict(hits, total), evidence)


def claim_dominance(agg: pd.DataFrame, tasks: Sequence[str], baselines: Sequence[str],
                    majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in tasks:
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        curve = _rows(agg, task, "smartbert")
        for baseline in baselines:
            points = _rows(agg, task, baseline)
            if curve.empty or points.empty:
                continue
            wins, n = beaten_share(curve, points, majority_floor(majority, task))
            total += 1
            hits += wins >= WIN_SHARE * n
            evidence.append(f"{task} vs {baseline}: SmartBERT matches or beats {wins} of {n} sweep points at equal or lower cost")
    return Claim("SmartBERT is better than DeeBERT and FastBERT at the same computational cost (Figure 4).",
                 f"per task and baseline: SmartBERT matches or beats >= {WIN_SHARE:.0%} of the baseline's sweep points "
                 "at equal or lower cost", _verdict(hits, total), evidence)


def claim_hard_tasks(agg: pd.DataFrame, tasks: Sequence[str], majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in [t for t in ("RTE", "WNLI") if t in tasks]:
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        bert = _bert(agg, task)
        for baseline in ("deebert", "fastbert"):
            row = _at(_rows(agg, task, baseline), 0.5)
            if row is not None:
                total += 1
                hits += row["cost_pct_paper"] >= EXPENSIVE
                evidence.append(f"{task} {baseline} S=0.5: {row['cost_pct_paper']:.0f}% cost, metric {row['metric']:.1f}")
        row = _at(_rows(agg, task, "smartbert"), 0.5)
        if row is not None and bert is not None:
            total += 1
            hits += row["cost_pct_paper"] < EXPENSIVE and row["metric"] >= bert - DROP and row["metric"] > majority_floor(majority, task)
            evidence.append(f"{task} SmartBERT S=0.5: {row['cost_pct_paper']:.0f}% cost, metric {row['metric']:.1f} (BERT {bert:.1f})")
    return Claim("On RTE and WNLI entropy-based exits hardly reduce computation (DeeBERT, FastBERT at S=0.5), "
                 "while SmartBERT's skipping still saves with minimal drop (Table 1).",
                 f"baselines at S=0.5 cost >= {EXPENSIVE:.0f}%; SmartBERT at S=0.5 costs < {EXPENSIVE:.0f}% within {DROP} points of BERT",
                 _verdict(hits, total), evidence)


def claim_skip_only(agg: pd.DataFrame, tasks: Sequence[str], majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in tasks:
        bert, rows = _bert(agg, task), _rows(agg, task, "smartbert", "skiponly")
        if bert is None or rows.empty:
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        row = rows.iloc[0]
        total += 1
        hits += row["cost_pct_paper"] < SAVES and row["metric"] >= bert - DROP and row["metric"] > majority_floor(majority, task)
        evidence.append(f"{task}: skip-only {row['metric']:.1f} at {row['cost_pct_paper']:.0f}% cost "
                        f"({row['avg_layers_run']:.2f} layers run), BERT {bert:.1f}")
    return Claim("The skipping mechanism alone reduces computation compared with BERT (Table 3).",
                 f"skip-only costs < {SAVES:.0f}% and stays within {DROP} points of BERT", _verdict(hits, total), evidence)


def claim_ablation(agg: pd.DataFrame, claim: str, better: str, worse: Sequence[str], label: str,
                   majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in sorted(set(agg["task"])):
        if not any(len(_rows(agg, task, "smartbert", v)) for v in worse):
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        curve = _rows(agg, task, "smartbert", better)
        for variant in worse:
            points = _rows(agg, task, "smartbert", variant)
            if curve.empty or points.empty:
                continue
            wins, n = beaten_share(curve, points, majority_floor(majority, task))
            total += 1
            hits += wins >= WIN_SHARE * n
            evidence.append(f"{task}: {label} matches or beats {wins} of {n} {variant} points at equal or lower cost; "
                            f"mean cost {curve['cost_pct_paper'].mean():.0f}% vs {points['cost_pct_paper'].mean():.0f}%")
    return Claim(claim, f"{label} matches or beats >= {WIN_SHARE:.0%} of the other's sweep points at equal or lower cost",
                 _verdict(hits, total), evidence)


def claim_cheap_heads(table2: pd.DataFrame) -> Claim:
    evidence, hits, total = [], 0, 0
    for row in table2[table2["component"].isin(["exit_classifier", "skip_gate"])].itertuples(index=False):
        total += 1
        hits += row.pct_of_layer_paper <= 5.0
        paper = "" if pd.isna(row.paper_reports_M) else f" (paper: {row.paper_reports_M:.1f}M)"
        evidence.append(f"{row.backbone} {row.row}: {row.paper_flops_M:.1f}M FLOPs{paper} = {row.pct_of_layer_paper:.1f}% of a layer")
    return Claim("Skipping gates and classifiers cost far less than a Transformer layer (Table 2).",
                 "each gate and classifier costs <= 5% of a layer", _verdict(hits, total), evidence)


def degenerate_results(agg: pd.DataFrame, majority: dict[str, dict]) -> list[str]:
    """Results at or below the majority class, and gates that skip every layer or none."""
    flags = []
    for (task, method, variant), rows in agg.groupby(["task", "method", "variant"]):
        floor = majority_floor(majority, task)
        best = rows["metric"].max()
        if best <= floor + 1e-9:
            flags.append(f"{task} {method}/{variant}: best metric {best:.1f} <= majority class {floor:.1f}: learned nothing usable")
        if method == "smartbert":
            full = rows.sort_values("cost_pct_paper").iloc[-1]
            layers = full["avg_layers_run"] + full["avg_layers_skipped"]
            if full["avg_layers_run"] == 0:
                flags.append(f"{task} {method}/{variant}: gates skip every layer for every example (collapsed)")
            elif full["avg_layers_skipped"] == 0 and layers > 0 and variant == "skiponly":
                flags.append(f"{task} {method}/{variant}: gates never skip (skipping does nothing)")
    return flags


def latency_lines(latency: pd.DataFrame, root: str = "results/quick") -> list[str]:
    """Do FLOPs savings show up in wall-clock time? Per timed model and threshold (rows of
    :func:`smartbert.bench.latency_rows`): the FLOPs-predicted speedup over BERT beside the measured
    one, both on the same timed examples."""
    from smartbert.tables import row_label

    lines = [f"| {r.task} | {row_label(r.method, 'default', r.policy, r.threshold, r.label)} | {r.cost_pct:.0f}% | "
             f"{r.flops_speedup:.2f}x | {r.ms_per_example:.1f} | {r.measured_speedup:.2f}x | {r.measured_over_flops:.2f} |"
             for r in latency.itertuples(index=False) if r.method != "bert" and not math.isnan(r.measured_speedup)]
    if not lines:
        return ["- not measured in this run (`latency.examples: 0`)"]
    return ["Batch-1 dynamic inference; the models of a task were timed together, example by example, on the same "
            f"dev examples (`{root}/latency/`), and both speedups are over BERT on those examples. Measured / FLOPs "
            "below 1: gates, exit heads and control flow cost more time than their FLOPs say.", "",
            "| task | model | cost | FLOPs speedup | ms / example | measured speedup | measured / FLOPs |",
            "|---|---|---|---|---|---|---|", *lines]


def runtime_table(benchmark_paths: Sequence[str]) -> pd.DataFrame:
    """Wall time per rule from Snakemake's benchmark files (results/runtime/<rule>/...)."""
    rows = []
    for path in benchmark_paths:
        path = Path(path)
        frame = pd.read_csv(path, sep="\t")
        parts = path.parts[path.parts.index("runtime") + 1:]
        rows.append({"rule": parts[0], "job": "/".join(parts[1:]).removesuffix(".tsv"), "seconds": float(frame["s"].iloc[0]),
                     "max_rss_MB": float(frame["max_rss"].iloc[0]) if "max_rss" in frame else math.nan})
    return pd.DataFrame(rows, columns=["rule", "job", "seconds", "max_rss_MB"])


def device_lines(sweeps: pd.DataFrame, latency: pd.DataFrame) -> list[str]:
    """Where the models were trained and traced and the latency timed, from what the sweeps and
    latency CSVs recorded (never from the machine writing the report)."""
    from smartbert.results import recorded_values

    lines = []
    for column, what in (("train_device", "trained on"), ("trace_device", "traced on")):
        found = recorded_values(sweeps, column)
        lines.append(f"{what}: {'; '.join(found) if found else 'not recorded (sweeps written before the suite recorded devices)'}")
    if len(latency):
        found = recorded_values(latency, "device")
        lines.append(f"latency timed on: {'; '.join(found) if found else 'not recorded'}")
    return lines


def render(claims: Sequence[Claim], flags: Sequence[str], table1_md: str, runtime: pd.DataFrame, provenance: dict,
           config_summary: str, latency: Sequence[str] = (), devices: Sequence[str] = (), root: str = "results/quick") -> str:
    lines = ["# Reproduction report", "",
             "Generated by the workflow (`smartbert.report`) from this run's sweeps; every number below is measured, "
             "none is copied from the paper except where labelled *paper*.", "", "## Run", "", config_summary, "",
             f"- commit `{provenance.get('commit')}`, host {provenance.get('host')}",
             *[f"- {line}" for line in devices],
             "- versions: " + ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items()), ""]
    lines += ["## Claims", "", "| claim | verdict |", "|---|---|"]
    lines += [f"| {c.claim} | **{c.verdict}** |" for c in claims]
    for claim in claims:
        lines += ["", f"### {claim.claim}", "", f"Verdict: **{claim.verdict}**. Rule: {claim.rule}.", ""]
        lines += [f"- {item}" for item in claim.evidence] or ["- no data in this run"]
    lines += ["", "## FLOPs savings in wall-clock time", ""]
    lines += list(latency) or ["- not measured in this run"]
    lines += ["", "## Degenerate results", ""]
    lines += [f"- {flag}" for flag in flags] or ["- none"]
    lines += ["", "## Table 1 (this run)", "", table1_md, "## Wall time per rule", ""]
    if len(runtime):
        summary = runtime.groupby("rule")["seconds"].agg(["count", "sum", "max"]).reset_index()
        lines += ["| rule | jobs | total s | longest s |", "|---|---|---|---|"]
        lines += [f"| {r.rule} | {r.count} | {r.sum:.0f} | {r.max:.0f} |" for r in summary.itertuples(index=False)]
        lines += ["", f"Sum over jobs: {runtime['seconds'].sum() / 60:.1f} min (jobs that ran side by side count "
                  f"each; wall time is in RUN.md). Per job: `{root}/runtime/`."]
    return "\n".join(lines) + "\n"


def write_report(sweep_paths: Sequence[str], data_paths: Sequence[str], table_dir: str | Path, benchmark_paths: Sequence[str],
                 config: dict, out: str | Path, latency_paths: Sequence[str] = ()) -> None:
    from smartbert.provenance import provenance
    from smartbert.results import aggregate, load_data_summaries, load_latency, load_sweeps

    sweeps = load_sweeps(sweep_paths)
    agg = aggregate(sweeps)
    majority = load_data_summaries(data_paths)
    table_dir = Path(table_dir)
    tasks = list(config["tasks"])
    claims = [
        claim_reduction(agg, tasks, config["thresholds"]["table"], majority),
        claim_dominance(agg, tasks, [m for m in ("deebert", "fastbert") if m in config["methods"]], majority),
        claim_hard_tasks(agg, tasks, majority),
        claim_skip_only(agg, [t for t in config["tables"]["table3_tasks"] if t in tasks], majority),
        claim_ablation(agg, "Cross-layer contrastive learning further reduces computation (Figure 5).", "default",
                       config["figures"]["fig5_variants"], "contrast", majority),
        claim_ablation(agg, "The special training way (SP) beats soft and hard gate training (Figure 6).", "default",
                       config["figures"]["fig6_variants"], "SP", majority),
        claim_cheap_heads(pd.read_csv(table_dir / "table2.csv")),
    ]
    budget = config["data"]["max_train_examples"]
    summary = (f"- backbone `{config['backbone']}`, tasks {', '.join(tasks)}, seeds {config['seeds']}, "
               f"train examples per task {budget}, train {config['train']}")
    table1_md = (table_dir / "table1.md").read_text()
    latency = load_latency(latency_paths)
    root = f"results/{config.get('profile', 'quick')}"
    atomic_write_text(out, render(claims, degenerate_results(agg, majority), table1_md, runtime_table(benchmark_paths),
                                  provenance(), summary, latency_lines(latency, root), device_lines(sweeps, latency), root))
