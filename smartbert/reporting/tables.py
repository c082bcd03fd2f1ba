"""The paper's tables from sweep results: Table 1 (metric and FLOPs per method and S), Table 2
(FLOPs per component), Table 3 (skip-only), and paper-vs-reproduction.

Each table is a tidy frame (one row per task x table row: what the CSV holds) and a wide frame
laid out as the paper's (what the Markdown and LaTeX hold). Every task gets a majority-class row:
a model at or below it learned nothing (the paper's WNLI 56.3 is that number for every method).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smartbert.core.names import BERT, DEFAULT_VARIANT, MAJORITY, SKIP_ONLY
from smartbert.data.tasks import PAPER_TASKS
from smartbert.replay.cost import ComponentCosts
from smartbert.replay.policies import policy_class
from smartbert.reporting.curve_table import write_curve_tables
from smartbert.reporting.gate_tables import write_gate_tables
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.oracle_table import read_oracles, write_oracle_tables
from smartbert.reporting.results import (
    aggregate,
    at_or_below,
    load_data_summaries,
    load_latency,
    load_sweeps,
    majority_floor,
    recorded_values,
)
from smartbert.reporting.table_files import format_mean_std, write_table

TIDY_COLUMNS = ["table", "task", "row", "label", "method", "variant", "policy", "threshold", "metric_name", "metric",
                "metric_std", "flops_M", "cost_pct", "cost_pct_std", "cost_pct_fvcore", "avg_layers_run", "ms_per_example",
                "n_seeds", "seeds", "experiment_hash", "commit", "degenerate"]


def _pick(agg: pd.DataFrame, thresholds: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Rows of ``agg`` at each policy's Table 1 thresholds (``thresholds``: a profile's, keyed by
    policy; static methods: their one row)."""
    keep = pd.Series(False, index=agg.index)  # by label: ``agg`` may be a filtered frame (any row order)
    for policy, group in agg.groupby("policy"):
        rule = policy_class(policy)
        if rule.is_static():
            keep[group.index] = True
            continue
        wanted = rule.table_thresholds(thresholds)
        keep[group.index] = group["threshold"].apply(lambda t, wanted=wanted: any(math.isclose(t, w) for w in wanted))
    return agg[keep]


#: what an external sweep may leave out (smartbert.reporting.external): its rows show these empty
OPTIONAL_COLUMNS = ("cost_pct_fvcore", "avg_layers_run", "metric_std", "cost_pct_paper_std")


def _tidy(rows: pd.DataFrame, table: str, majority: dict[str, dict], methods: MethodCatalogue) -> pd.DataFrame:
    rows = rows.assign(**{c: math.nan for c in OPTIONAL_COLUMNS if c not in rows})
    rows = rows.assign(order=rows["method"].map(methods.order), vorder=(rows["variant"] != DEFAULT_VARIANT).astype(int))
    rows = rows.sort_values(["task", "order", "vorder", "variant", "threshold"])
    out = pd.DataFrame({
        "table": table, "task": rows["task"],
        "row": [methods.row_label(*r) for r in rows.reindex(columns=["method", "variant", "policy", "threshold", "label"]).itertuples(index=False)],
        "label": rows["label"] if "label" in rows else rows["method"].map(methods.display_name),
        "method": rows["method"], "variant": rows["variant"], "policy": rows["policy"], "threshold": rows["threshold"],
        "metric_name": rows["task"].map(lambda t: majority[t]["main_metric"] if t in majority else ""),
        "metric": rows["metric"], "metric_std": rows["metric_std"], "flops_M": rows["avg_flops_paper_M"],
        "cost_pct": rows["cost_pct_paper"], "cost_pct_std": rows["cost_pct_paper_std"],
        "cost_pct_fvcore": rows["cost_pct_fvcore"], "avg_layers_run": rows["avg_layers_run"],
        "n_seeds": rows["n_seeds"], "seeds": rows["seeds"], "experiment_hash": rows["experiment_hash"],
        "commit": rows["commit"] if "commit" in rows else None,
    })
    floor = out["task"].map(lambda t: majority_floor(majority, t)).astype(float)  # float also when no rows
    out["degenerate"] = at_or_below(out["metric"], floor)
    majority_rows = pd.DataFrame([{"table": table, "task": task, "row": MAJORITY, "method": MAJORITY, "variant": "",
                                   "policy": "", "metric_name": majority[task]["main_metric"],
                                   "metric": majority[task]["majority_class"]["metric"], "n_seeds": 0}
                                  for task in out["task"].unique() if task in majority])
    out = pd.concat([out, majority_rows], ignore_index=True) if len(majority_rows) else out
    out = out.reindex(columns=TIDY_COLUMNS)
    return out.iloc[sorted(range(len(out)), key=lambda i: task_order(out["task"].iloc[i]))].reset_index(drop=True)


def task_order(task: str) -> tuple[int, str]:
    """The paper's column order (MRPC, SST-2, QNLI, QQP, MNLI, MNLI-mm, CoLA, RTE, WNLI), then others by name."""
    return (PAPER_TASKS.index(task), "") if task in PAPER_TASKS else (len(PAPER_TASKS), task)


def table1(agg: pd.DataFrame, majority: dict[str, dict], thresholds: Mapping[str, Sequence[float]],
           latency: pd.DataFrame | None = None, *, methods: MethodCatalogue) -> pd.DataFrame:
    """Table 1: every method's default variant; early-exit methods at the table's thresholds; with
    ``latency`` (rows of :func:`smartbert.inference.latency.latency_table`), ms per example at batch 1."""
    tidy = _tidy(_pick(agg[agg["variant"] == DEFAULT_VARIANT], thresholds), "table1", majority, methods)
    if latency is None or latency.empty:
        return tidy
    key = lambda frame: list(zip(frame["task"], frame["method"], frame["threshold"].fillna(0.0).round(6)))  # noqa: E731
    measured = dict(zip(key(latency), latency["ms_per_example"]))
    where = dict(zip(key(latency), latency["device"] if "device" in latency else [None] * len(latency)))
    return tidy.assign(ms_per_example=[measured.get(k, math.nan) for k in key(tidy)],
                       latency_device=[where.get(k) for k in key(tidy)])


def latency_devices(table: pd.DataFrame) -> str:
    """The devices a table's ``ms`` column was timed on, for its caption (old runs did not record it)."""
    if "latency_device" not in table or table["ms_per_example"].isna().all():
        return ""
    devices = recorded_values(table[table["ms_per_example"].notna()], "latency_device")
    return "timed on " + "; ".join(devices) if devices else "device not recorded (timed before the suite recorded it)"


def table3(agg: pd.DataFrame, majority: dict[str, dict], tasks: Iterable[str], *, methods: MethodCatalogue) -> pd.DataFrame:
    """Table 3: BERT beside SmartBERT with the skipping mechanism only (exits disabled)."""
    tasks = list(tasks)
    rows = agg[agg["task"].isin(tasks) & (((agg["method"] == BERT) & (agg["variant"] == DEFAULT_VARIANT))
                                         | (agg["variant"] == SKIP_ONLY))]
    return _tidy(rows, "table3", {t: m for t, m in majority.items() if t in tasks}, methods)


def table2(backbones: Mapping[str, ComponentCosts], paper: pd.DataFrame | None) -> pd.DataFrame:
    """Table 2: FLOPs of a Transformer layer, an exit classifier and a skipping gate, both conventions
    (``backbones``: each backbone's component costs, :func:`smartbert.modeling.flops.component_costs`)."""
    names = {"layer": "Each Transformer Layer", "exit_classifier": "Each Classifier", "skip_gate": "Each Skipping Gate",
             "pooled_classifier": "BERT / DeeBERT classifier"}
    paper_values = dict(zip(paper["component"], paper["paper_flops_M"])) if paper is not None else {}
    rows = []
    for backbone, costs in backbones.items():
        shape = costs.shape
        for component, label in names.items():
            rows.append({"table": "table2", "backbone": backbone, "component": component, "row": label,
                         "paper_flops_M": costs.paper[component] / 1e6, "fvcore_macs_M": costs.fvcore[component] / 1e6,
                         "pct_of_layer_paper": 100 * costs.paper[component] / costs.paper["layer"],
                         "pct_of_layer_fvcore": 100 * costs.fvcore[component] / costs.fvcore["layer"],
                         "paper_reports_M": paper_values.get(component, math.nan) if shape.hidden == 768 and shape.ffn == 3072 else math.nan})
    return pd.DataFrame(rows)


def paper_vs_repro(repro: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Paper and reproduction side by side on the rows both have, with deltas (repro - paper)."""
    key = ["table", "task", "method", "variant", "threshold"]
    paper = paper.assign(threshold=paper["threshold"].fillna(0.0), variant=paper["variant"].fillna(DEFAULT_VARIANT))
    repro = repro[repro["method"] != MAJORITY].assign(
        threshold=lambda f: np.where(f["policy"].map(lambda p: policy_class(p).is_static()), 0.0, f["threshold"]))
    merged = paper.rename(columns={"metric": "paper_metric", "cost_pct": "paper_cost_pct", "flops_M": "paper_flops_M"}).merge(
        repro[key + ["row", "metric", "metric_std", "cost_pct", "n_seeds", "degenerate"]].rename(
            columns={"metric": "repro_metric", "metric_std": "repro_metric_std", "cost_pct": "repro_cost_pct"}),
        on=key, how="inner")
    merged["delta_metric"] = merged["repro_metric"] - merged["paper_metric"]
    merged["delta_cost_pct"] = merged["repro_cost_pct"] - merged["paper_cost_pct"]
    columns = ["table", "task", "row", "metric_name", "paper_metric", "repro_metric", "repro_metric_std", "delta_metric",
               "paper_cost_pct", "repro_cost_pct", "delta_cost_pct", "n_seeds", "degenerate"]
    return merged[columns]


# ---- display ----------------------------------------------------------------------------------

def wide(tidy: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one row per method (and S), per task a metric and a FLOPs (cost) column."""
    cells: dict[str, dict[str, str]] = {}
    tasks = list(dict.fromkeys(tidy["task"]))
    order = list(dict.fromkeys(tidy.loc[tidy["row"] != MAJORITY, "row"])) + [MAJORITY]
    for record in tidy.itertuples(index=False):
        metric_name = {"accuracy": "Acc", "f1": "F1", "mcc": "MCC"}.get(record.metric_name, record.metric_name)
        row = cells.setdefault(record.row, {})
        row[f"{record.task} {metric_name}"] = format_mean_std(record.metric, record.metric_std, record.n_seeds) + (
            " (!)" if record.degenerate is True else "")
        row[f"{record.task} FLOPs (cost)"] = ("" if pd.isna(record.flops_M) else
                                              f"{record.flops_M:,.0f}M ({record.cost_pct:.0f}%)")
        if not pd.isna(record.ms_per_example):
            row[f"{record.task} ms"] = f"{record.ms_per_example:.1f}"
    columns = [c for t in tasks for c in dict.fromkeys(k for r in cells.values() for k in r if k.startswith(f"{t} "))]
    frame = pd.DataFrame.from_dict(cells, orient="index").reindex(index=[r for r in order if r in cells], columns=columns)
    return frame.fillna("").rename_axis("model").reset_index()


# ---- the workflow's table step -----------------------------------------------------------------

CAPTIONS = {
    "table1": "Table 1: metric and FLOPs (cost % of BERT) per method and exit threshold S on the dev sets; "
              "ms: batch-1 latency per example on a sample of dev, where measured. "
              "(!) marks a result at or below the majority class.",
    "table2": "Table 2: FLOPs of each component at sequence length {seq_len} (paper convention: 2 x MACs of "
              "linear layers; fvcore: every MAC including attention matmuls).",
    "table3": "Table 3: BERT beside SmartBERT with the skipping mechanism only (exits disabled).",
    "paper_vs_repro": "The paper's Tables 1 and 3 beside this reproduction (delta = reproduction - paper).",
}


def write_result_tables(*, sweep_paths: Iterable[str], data_paths: Iterable[str], paper_dir: str | Path, out_dir: str | Path,
                        thresholds: Mapping[str, Sequence[float]], table3_tasks: Sequence[str],
                        latency_paths: Iterable[str] = (), oracle_paths: Iterable[str] = (),
                        methods: MethodCatalogue) -> None:
    """Tables 1 and 3, paper-vs-reproduction, the curve-level tables (:mod:`smartbert.reporting.curve_table`) and
    the oracle and per-head tables (:mod:`smartbert.reporting.oracle_table`) from sweeps, data summaries and
    (optionally) latency CSVs and oracle JSONs."""
    sweeps = load_sweeps(sweep_paths)
    agg = aggregate(sweeps)
    majority = load_data_summaries(data_paths)
    out_dir, paper_dir = Path(out_dir), Path(paper_dir)
    latency = load_latency(latency_paths)
    # curves compare this run's models over the cost range they share: an external baseline (another
    # backbone, another codebase: smartbert.reporting.external) joins Table 1 and Figure 4, not those ranges
    write_curve_tables(sweeps[sweeps["method"].isin(methods.names())], latency, out_dir, methods=methods)
    oracles = read_oracles(oracle_paths)  # each JSON read once, for both tables
    write_oracle_tables(oracles, out_dir, methods=methods)
    write_gate_tables(oracles, sweeps, out_dir, methods=methods)
    first = table1(agg, majority, thresholds, latency, methods=methods)
    third = table3(agg, majority, table3_tasks, methods=methods)
    timed_on = latency_devices(first)
    write_table(first, wide(first), out_dir / "table1", CAPTIONS["table1"] + (f" Latency {timed_on}." if timed_on else ""))
    write_table(third, wide(third), out_dir / "table3", CAPTIONS["table3"])
    paper = pd.concat([pd.read_csv(paper_dir / "table1.csv"), pd.read_csv(paper_dir / "table3.csv")], ignore_index=True)
    both = paper_vs_repro(pd.concat([first, third], ignore_index=True), paper)
    display = both.assign(**{c: both[c].map(lambda v: f"{v:+.1f}" if pd.notna(v) else "")
                             for c in ("delta_metric", "delta_cost_pct")}).drop(columns=["degenerate"])
    write_table(both, display, out_dir / "paper_vs_repro", CAPTIONS["paper_vs_repro"])


def write_flops_table(backbones: Mapping[str, ComponentCosts], seq_len: int, paper_dir: str | Path, out_dir: str | Path) -> None:
    """Table 2 for each backbone's component costs at ``seq_len`` (bert-base-uncased beside the run's own)."""
    tidy = table2(backbones, pd.read_csv(Path(paper_dir) / "table2.csv"))
    display = tidy.assign(**{
        "FLOPs (paper)": tidy["paper_flops_M"].map(lambda v: f"{v:,.1f}M"),
        "% of a layer": tidy["pct_of_layer_paper"].map(lambda v: f"{v:.1f}%"),
        "MACs (fvcore)": tidy["fvcore_macs_M"].map(lambda v: f"{v:,.1f}M"),
        "paper reports": tidy["paper_reports_M"].map(lambda v: "" if pd.isna(v) else f"{v:,.1f}M"),
    })[["backbone", "row", "FLOPs (paper)", "% of a layer", "MACs (fvcore)", "paper reports"]]
    write_table(tidy, display, Path(out_dir) / "table2", CAPTIONS["table2"].format(seq_len=seq_len))
