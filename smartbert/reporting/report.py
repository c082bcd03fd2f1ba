"""REPORT.md: each claim of the paper, whether this run reproduces it, with the numbers.

Verdicts come from the fixed rules of :mod:`smartbert.reporting.claims`, each stated beside its verdict with
what the same rule says on the paper's own tables. Degenerate results (at or below the majority
class; gates that skip every layer or none) are flagged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError, one_line
from smartbert.core.formats import SELECTION
from smartbert.core.io import atomic_write_text
from smartbert.core.names import BERT, DEFAULT_VARIANT, SMARTBERT
from smartbert.core.provenance import provenance
from smartbert.replay.calibrate import loss_meaning
from smartbert.reporting.claims import (
    DROP,
    Claim,
    TaskWeight,
    bert_metrics,
    cheapest_within,
    claim_guaranteed_cost,
    evaluate_claims,
    model_rows,
    paper_verdicts,
    smartbert_thresholds,
    task_weights,
    variant_claims,
)
from smartbert.reporting.gate_tables import SKIP_ONLY_MARGIN
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.oracle_table import degenerate_heads
from smartbert.reporting.results import (
    aggregate,
    at_or_below,
    load_data_summaries,
    load_latency,
    load_sweeps,
    majority_floor,
    recorded_values,
)


def degenerate_results(agg: pd.DataFrame, majority: dict[str, dict]) -> list[str]:
    """Results at or below the majority class, and gates that skip every layer or none."""
    flags = []
    for (task, method, variant), rows in agg.groupby(["task", "method", "variant"]):
        floor = majority_floor(majority, task)
        best = rows["metric"].max()
        if at_or_below(best, floor):
            flags.append(f"{task} {method}/{variant}: best metric {best:.1f} <= majority class {floor:.1f}: learned nothing usable")
        if method == SMARTBERT:
            full = rows.sort_values("cost_pct_paper").iloc[-1]
            layers = full["avg_layers_run"] + full["avg_layers_skipped"]
            if full["avg_layers_run"] == 0:
                flags.append(f"{task} {method}/{variant}: gates skip every layer for every example (collapsed)")
            elif full["avg_layers_skipped"] == 0 and layers > 0 and variant != DEFAULT_VARIANT:  # the default's: its skip-only row
                flags.append(f"{task} {method}/{variant}: gates never skip (skipping does nothing)")
    return flags


def latency_lines(latency: pd.DataFrame, root: str = "results/quick", *, methods: MethodCatalogue) -> list[str]:
    """Do FLOPs savings show up in wall-clock time? Per timed model and threshold (rows of
    :func:`smartbert.inference.latency.latency_rows`): the FLOPs-predicted speedup over BERT beside the measured
    one, both on the same timed examples."""
    lines = [f"| {r.task} | {methods.row_label(r.method, 'default', r.policy, r.threshold, r.label)} | {r.cost_pct:.0f}% | "
             f"{r.flops_speedup:.2f}x | {r.ms_per_example:.1f} | {r.measured_speedup:.2f}x | {r.measured_over_flops:.2f} |"
             for r in latency.itertuples(index=False) if r.method != BERT and not math.isnan(r.measured_speedup)]
    if not lines:
        return ["- not measured in this run (`latency.examples: 0`)"]
    return ["Batch-1 dynamic inference; the models of a task were timed together, example by example, on the same "
            f"dev examples (`{root}/latency/`), and both speedups are over BERT on those examples. Measured / FLOPs "
            "below 1: gates, exit heads and control flow cost more time than their FLOPs say.", "",
            "| task | model | cost | FLOPs speedup | ms / example | measured speedup | measured / FLOPs |",
            "|---|---|---|---|---|---|---|", *lines]


def oracle_lines(table_dir: Path, root: str) -> list[str]:
    """The oracle table (written by the table step) with a reading guide."""
    path = table_dir / "oracle.md"
    if not path.is_file():
        return []
    return ["How far each model's exit rule sits from the best exits its own heads allow (the earliest head that is "
            "right and stays right: the full-depth metric at the least cost). A small gap between *policy cost at oracle "
            f"metric* and *oracle cost* means the rule uses its heads well; per head metrics: `{root}/tables/heads.csv`.", "",
            _table_body(path)]


def _table_body(path: Path) -> str:
    """A Markdown table written by :func:`smartbert.reporting.table_files.write_table`, without its caption."""
    return path.read_text().split("\n\n", 1)[-1].rstrip()


def curve_lines(table_dir: Path, root: str) -> list[str]:
    """The curve-level tables (written by the table step) with a reading guide."""
    between, auc = table_dir / "curves_between.md", table_dir / "curves_auc.md"
    if not between.is_file() or not auc.is_file():
        return []
    return ["Whole curves rather than three thresholds: SmartBERT's attainable metric (best at equal or lower cost) "
            "minus each baseline's, averaged over the cost range both cover; + means SmartBERT is above. "
            f"`{root}/tables/curves_between.csv` and `curves_auc.csv` hold every number.", "",
            _table_body(between), "",
            "Area under each curve over the range the task's methods share (mean metric over that range):", "",
            _table_body(auc)]


def guaranteed_lines(guaranteed: pd.DataFrame, table_dir: Path, root: str, delta: float | None) -> list[str]:
    """The cost-at-guaranteed-quality table (written by the table step) with what each row guarantees and,
    per procedure, how the random halves bore its guarantee out: Learn-then-Test's picks over eps on all
    of dev (at most delta), conformal risk control's mean test risk (at most eps)."""
    path = table_dir / "guaranteed.md"
    if guaranteed.empty or not path.is_file():
        return []
    lines = ["Which threshold to ship: each procedure picks the most aggressive threshold of a method's grid whose risk "
             f"({loss_meaning(list(guaranteed['loss']))}) it can guarantee from a calibration set. `S shipped`: calibrated "
             "on all of dev (what a user would deploy); its `FLOPs %` and batch-1 `ms` on dev. The test columns split dev "
             "at random into calibration and test halves many times, calibrate on one half and measure on the other. `ltt` "
             "(Learn-then-Test, Hoeffding-Bentkus p-values, fixed-sequence testing) guarantees P(risk > eps) <= delta: with "
             "dev as the population the halves are drawn from, the share of picks whose risk on all of dev exceeds eps "
             "(`over eps (dev)`) should be at most delta; a test half's own risk adds its sampling noise (`over eps (test "
             "half)`). `crc` (conformal risk control) guarantees E[risk] <= eps: the mean test risk should be at most eps. "
             "`empirical` (the threshold whose calibration risk is at most eps: what picking on dev does) guarantees "
             f"nothing. Every number: `{root}/tables/guaranteed.csv`; per model, `{root}/calibration/`.", ""]
    for name, rows in guaranteed.groupby("procedure", sort=False):
        over, over_test = rows["trial_violation_rate"], rows["trial_test_violation_rate"]
        lines.append(f"- `{name}` ({rows['guarantee'].iloc[0]}): picks over eps on all of dev in {100 * over.mean():.1f}% "
                     f"of trials on average, at most {100 * over.max():.1f}% (one model at one eps); on their test half "
                     f"{100 * over_test.mean():.1f}%, at most {100 * over_test.max():.1f}%; mean test risk "
                     f"{100 * rows['trial_risk_mean'].mean():.2f} points, at most {100 * rows['trial_risk_mean'].max():.2f}, "
                     f"against eps {', '.join(f'{100 * e:g}' for e in sorted(set(rows['epsilon'])))} points"
                     + (f"; delta {delta:g}" if delta is not None else ""))
    return lines + ["", _table_body(path)]


SELECTION_COLUMNS = {"heldout_metric", "best_epoch", "seconds", "mean_layers_run", "collapsed", "inactive",
                     "skip_rate_per_layer", "within_tolerance", "selected"}


def selection_lines(paths: Sequence[str | Path], tolerance: float | None = None) -> list[str]:
    """Per task: the grid point selection chose, the ones it rejected and why, and a flag when the
    chosen gates skip nothing (``inactive``: Table 3 and the skip-only claim then test nothing)."""
    lines = []
    for path in paths:
        table = SELECTION.read_csv(path)
        if table["selected"].dtype != bool or table["selected"].sum() != 1:
            raise SELECTION.error(path, "must mark exactly one row selected (True/False in column 'selected')")
        task = Path(path).parent.name
        keys = [c for c in table.columns if c not in SELECTION_COLUMNS]
        point = lambda row, keys=keys: ", ".join(f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keys)
        layers = lambda row: f", {row['mean_layers_run']:.2f} layers run" if "mean_layers_run" in row and pd.notna(row["mean_layers_run"]) else ""  # noqa: E731
        for row in table[table["selected"].astype(bool)].to_dict("records"):
            flag = " **inactive: its gates skip nothing, so skipping is not tested on this task**" if row.get("inactive") else ""
            flag += " **collapsed (every point collapsed)**" if row.get("collapsed") else ""
            lines.append(f"- {task}: chose {point(row)} (held-out {row['heldout_metric']:.1f}{layers(row)}){flag}")
        all_collapsed = "collapsed" in table and table["collapsed"].astype(bool).all()
        for row in table[~table["selected"].astype(bool)].to_dict("records"):
            lines.append(f"  - rejected {point(row)}: held-out {row['heldout_metric']:.1f}{layers(row)}: "
                         f"{_rejected_because(row, all_collapsed, tolerance)}")
    return lines


def _rejected_because(row: dict, all_collapsed: bool, tolerance: float | None) -> str:
    """Why selection passed a grid point over (rows of older tables lack ``within_tolerance``)."""
    if all_collapsed:
        return "every point collapsed; this one scored lower or ran more layers"
    if row.get("collapsed"):
        return "collapsed gates"
    if "within_tolerance" in row and not row["within_tolerance"]:
        return f"more than {tolerance:g} points below the best" if tolerance is not None else "outside the tolerance"
    return "dearer or worse"


def runtime_table(benchmark_paths: Sequence[str]) -> pd.DataFrame:
    """Wall time per rule from Snakemake's benchmark files (results/runtime/<rule>/...)."""
    rows = []
    for name in benchmark_paths:
        path = Path(name)
        try:
            frame = pd.read_csv(path, sep="\t")
            seconds = float(frame["s"].iloc[0])
            max_rss = float(frame["max_rss"].iloc[0]) if "max_rss" in frame else math.nan
        except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise SmartBertError(f"{path} is not a Snakemake benchmark file with a seconds column 's' ({one_line(error)}); "
                                 f"delete it and rerun the workflow") from None
        parts = path.parts[path.parts.index("runtime") + 1:]
        rows.append({"rule": parts[0], "job": "/".join(parts[1:]).removesuffix(".tsv"), "seconds": seconds, "max_rss_MB": max_rss})
    return pd.DataFrame(rows, columns=["rule", "job", "seconds", "max_rss_MB"])


def device_lines(sweeps: pd.DataFrame, latency: pd.DataFrame) -> list[str]:
    """Where the models were trained and traced and the latency timed, from what the sweeps and
    latency CSVs recorded (never from the machine writing the report)."""
    lines = []
    for column, what in (("train_device", "trained on"), ("trace_device", "traced on")):
        found = recorded_values(sweeps, column)
        lines.append(f"{what}: {'; '.join(found) if found else 'not recorded (sweeps written before the suite recorded devices)'}")
    if len(latency):
        found = recorded_values(latency, "device")
        lines.append(f"latency timed on: {'; '.join(found) if found else 'not recorded'}")
    return lines


def weight_lines(weights: Sequence[TaskWeight]) -> list[str]:
    """The report's first section: per task, whether BERT learned it, so a reader knows which
    verdicts carry weight before reading them."""
    if not weights:
        return []  # render says "no tasks"
    usable = [w.task for w in weights if w.learned]
    return ["A claim is counted on a task only where BERT itself is above the majority class (dev); the paper's BERT is "
            "bert-base-uncased on full GLUE, so a smaller backbone or budget sits below it.", "",
            "| task | can test the paper? |", "|---|---|", *[f"| {w.task} | {w.describe()} |" for w in weights], "",
            f"Verdicts below rest on {', '.join(usable) if usable else 'no task'} "
            f"({len(usable)} of {len(weights)} tasks)."]


def gate_lines(table_dir: Path, root: str) -> list[str]:
    """The gate tables (written by the table step) with a reading guide."""
    gates, gap = table_dir / "gates.md", table_dir / "skip_only_gap.md"
    if not gates.is_file() or not gap.is_file():
        return []
    return ["What the skipping gates do on dev, per layer: the share of examples whose gate skips the layer and the "
            f"histogram of gate values (`{root}/tables/gates.csv` holds every bin). A gate that sits at 1 for every example "
            "skips its layer always (a layer the model learned to do without, or a collapse); one at 0 never skips.", "",
            _table_body(gates), "", _table_body(gap)]


def variant_lines(agg: pd.DataFrame, majority: dict[str, dict], config: dict, *, methods: MethodCatalogue) -> list[str]:
    """Per SmartBERT variant of the run: its curve beside the default's on each task it ran, and the
    claims about SmartBERT's curve read by the same rules with the variant in the default's place."""
    bert, thresholds, lines = bert_metrics(agg), smartbert_thresholds(config, methods), []
    for name, spec in (config.get("variants") or {}).items():
        rows = agg[(agg["method"] == SMARTBERT) & (agg["variant"] == name)]
        if spec.get("method") != SMARTBERT or rows.empty:
            continue
        settings = ", ".join(f"{k}: {json.dumps(v)}" for k, v in (spec.get("config") or {}).items()) or "no change"
        within = f"cheapest S in {thresholds} within {DROP:g} of BERT"
        lines += [f"### SmartBERT [{name}] ({settings})", "",
                  f"| task | BERT | default: best (cost) | default: {within} | [{name}]: best (cost) | [{name}]: {within} | "
                  f"[{name}]: layers skipped at its dearest point |", "|---|---|---|---|---|---|---|"]
        for task in dict.fromkeys(rows["task"]):
            default, mine = model_rows(agg, task, SMARTBERT), model_rows(agg, task, SMARTBERT, name)
            floor = majority_floor(majority, task)
            skipped = mine.sort_values("cost_pct_paper").iloc[-1].get("avg_layers_skipped")
            lines.append(f"| {task} | {_number(bert.get(task))} | {_best(default)} | {_within(default, bert.get(task), floor, thresholds)} | "
                         f"{_best(mine)} | {_within(mine, bert.get(task), floor, thresholds)} | {_number(skipped, '.2f')} |")
        lines += ["", f"The claims about SmartBERT's curve, by the same rules, with [{name}] in the default's place:", ""]
        for claim in variant_claims(agg, majority, config, name, methods=methods):
            lines += [f"- {claim.claim} **{claim.verdict}**", *[f"  - {item}" for item in claim.evidence]]
        lines.append("")
    return lines[:-1] if lines else lines


def _number(value: float | None, spec: str = ".1f") -> str:
    """A number for a Markdown cell; '-' where there is none."""
    return "-" if value is None or pd.isna(value) else format(value, spec)


def _best(rows: pd.DataFrame) -> str:
    """The best metric of a curve and its cost ('-' for no curve)."""
    if rows.empty:
        return "-"
    row = rows.sort_values(["metric", "cost_pct_paper"], ascending=[False, True]).iloc[0]
    return f"{row['metric']:.1f} ({row['cost_pct_paper']:.0f}%)"


def _within(rows: pd.DataFrame, bert: float | None, floor: float, thresholds: Sequence[float]) -> str:
    """The point Table 1's reduction claim counts (:func:`smartbert.reporting.claims.cheapest_within`), or none."""
    if rows.empty or bert is None or pd.isna(bert):
        return "-"
    row = cheapest_within(rows, bert, floor, thresholds)
    return "none" if row is None else f"{row['metric']:.1f} at {row['cost_pct_paper']:.0f}% (S={row['threshold']:g})"


def render(claims: Sequence[Claim], flags: Sequence[str], table1_md: str, runtime: pd.DataFrame, provenance: dict,
           config_summary: str, latency: Sequence[str] = (), devices: Sequence[str] = (), root: str = "results/quick",
           curve_section: Sequence[str] = (), selection: Sequence[str] = (), oracle: Sequence[str] = (),
           weights: Sequence[str] = (), gates: Sequence[str] = (), variants: Sequence[str] = (),
           guaranteed: Sequence[str] = ()) -> str:
    lines = ["# Reproduction report", "",
             "Generated by the workflow (`smartbert.reporting.report`) from this run's sweeps; every number below is measured, "
             "none is copied from the paper except where labelled *paper*.", "", "## Can this run test the paper?", ""]
    lines += list(weights) or ["- no tasks"]
    lines += ["", "## Run", "", config_summary, "",
             f"- commit `{provenance.get('commit')}`, host {provenance.get('host')}",
             *[f"- {line}" for line in devices],
             "- versions: " + ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items()), ""]
    lines += ["## Claims", "", "Each rule is fixed in `smartbert/reporting/claims.py`; the last column applies the same rule to the "
              "paper's own transcribed Tables 1 and 3 (`results/paper/`), so a faithful reproduction can read "
              "\"reproduced\" (-: the paper gives no numbers, only a figure).", "",
              "| claim | verdict | the rule on the paper's own numbers |", "|---|---|---|"]
    lines += [f"| {c.claim} | **{c.verdict}** | {c.paper_verdict or '-'} |" for c in claims]
    for claim in claims:
        lines += ["", f"### {claim.claim}", "", f"Verdict: **{claim.verdict}**. Rule: {claim.rule}.", ""]
        lines += [f"- {item}" for item in claim.evidence] or ["- no data in this run"]
    lines += ["", "## SmartBERT variants", ""]
    lines += list(variants) or ["- no SmartBERT variant in this run"]
    lines += ["", "## Hyper-parameter selection (held-out train, never dev)", ""]
    lines += list(selection) or ["- no selection in this run"]
    lines += ["", "## Curve-level comparison", ""]
    lines += list(curve_section) or ["- no early-exit curves in this run"]
    lines += ["", "## Cost at guaranteed quality", ""]
    lines += list(guaranteed) or ["- no calibration in this run"]
    lines += ["", "## Oracle exits", ""]
    lines += list(oracle) or ["- no oracle analysis in this run"]
    lines += ["", "## Skipping gates", ""]
    lines += list(gates) or ["- no gated model in this run"]
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


def write_report(*, sweep_paths: Sequence[str], data_paths: Sequence[str], table_dir: str | Path, benchmark_paths: Sequence[str],
                 config: dict, out: str | Path, latency_paths: Sequence[str] = (), paper_dir: str | Path | None = None,
                 selection_paths: Sequence[str] = (), methods: MethodCatalogue) -> None:
    sweeps = load_sweeps(sweep_paths)
    agg = aggregate(sweeps)
    majority = load_data_summaries(data_paths)
    table_dir = Path(table_dir)
    tasks = list(config["tasks"])
    claims = evaluate_claims(agg, majority, config, pd.read_csv(table_dir / "table2.csv"), methods=methods)
    if paper_dir is not None:
        for claim, verdict in zip(claims, paper_verdicts(paper_dir, methods=methods)):
            claim.paper_verdict = verdict
    guaranteed = pd.read_csv(table_dir / "guaranteed.csv") if (table_dir / "guaranteed.csv").is_file() else pd.DataFrame()
    calibration = config.get("calibration") or {}
    if not guaranteed.empty:
        claims.append(claim_guaranteed_cost(guaranteed, agg, majority, tasks, calibration.get("epsilons", [])))
    budget = config["data"]["max_train_examples"]
    summary = (f"- backbone `{config['backbone']}`, tasks {', '.join(tasks)}, seeds {config['seeds']}, "
               f"train examples per task {budget}, train {config['train']}")
    table1_md = (table_dir / "table1.md").read_text()
    latency = load_latency(latency_paths)
    root = f"results/{config.get('profile', 'quick')}"
    flags = degenerate_results(agg, majority)
    if (table_dir / "heads.csv").is_file():
        flags += degenerate_heads(pd.read_csv(table_dir / "heads.csv"), bert_metrics(agg), majority)
    if (table_dir / "skip_only_gap.csv").is_file():
        gaps = pd.read_csv(table_dir / "skip_only_gap.csv")
        flags += [f"{r.task} smartbert/{r.variant} seed {r.seed}: the skip-only path loses {-r.gap:.1f} points against BERT "
                  f"({r.skip_only_metric:.1f} vs {r.bert_metric:.1f}; margin {SKIP_ONLY_MARGIN:g}): the gates cost accuracy "
                  "(collapsed by the margin rule)" for r in gaps.itertuples(index=False) if r.costs_too_much]
    atomic_write_text(out, render(claims, flags, table1_md, runtime_table(benchmark_paths),
                                  provenance(), summary, latency_lines(latency, root, methods=methods), device_lines(sweeps, latency), root,
                                  curve_lines(table_dir, root), selection_lines(selection_paths, config.get("selection", {}).get("tolerance")),
                                  oracle_lines(table_dir, root), weight_lines(task_weights(agg, majority, tasks, paper_dir)),
                                  gate_lines(table_dir, root), variant_lines(agg, majority, config, methods=methods),
                                  guaranteed_lines(guaranteed, table_dir, root, calibration.get("delta"))))
