"""The oracle and per-head tables from ``smartbert oracle`` JSON files (one per traced model), and
the heads that learned nothing (at or below the majority class where BERT is above it)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from smartbert.core.formats import ORACLE
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.results import at_or_below, majority_floor
from smartbert.reporting.table_files import write_table

SUMMARY_COLUMNS = ["task", "method", "variant", "seed", "policy", "oracle_metric", "oracle_cost_pct", "oracle_avg_exit_layer",
                   "oracle_avg_layers_run", "policy_cost_pct_at_oracle_metric", "policy_metric_at_oracle_cost",
                   "flat_curve_reason"]
HEAD_COLUMNS = ["task", "method", "variant", "seed", "layer", "evaluated_share", "metric", "accuracy", "agreement_with_last",
                "top_class_share", "threshold", "exits_here", "exit_agreement_with_last"]


def read_oracles(paths: Iterable[str | Path]) -> list[dict]:
    """The contents of ``smartbert oracle`` JSON files."""
    return [ORACLE.read_json(path) for path in paths]


def load_oracles(paths: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summaries, heads) of the ``smartbert oracle`` JSON files at ``paths``."""
    return oracle_frames(read_oracles(paths))


def oracle_frames(oracles: Iterable[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summaries, heads) of ``smartbert oracle`` JSON contents, one summary row per model."""
    summaries, heads = [], []
    for found in oracles:
        summary = found["summary"]
        summaries.append(summary)
        heads += [{**{k: summary.get(k) for k in ("task", "method", "variant", "seed")}, **head} for head in found["heads"]]
    return (pd.DataFrame(summaries).reindex(columns=SUMMARY_COLUMNS),
            pd.DataFrame(heads).reindex(columns=HEAD_COLUMNS))


def degenerate_heads(heads: pd.DataFrame, bert_metric: dict[str, float], majority: dict[str, dict]) -> list[str]:
    """Intermediate heads that learned nothing on a task where BERT is above the majority class (a
    dead exit: an early exit there is a guess), one line per model listing its dead layers: a head
    evaluated on (nearly) the whole dev set that is at or below the majority class or predicts one
    class for >= 99.5% of it. A gated model's head sees only the examples where its layer ran, whose
    majority may differ, so it is not judged here (its metric stays in the heads table). The last
    head is the model's own result, flagged as such elsewhere."""
    flags = []
    for (task, method, variant, seed), rows in heads.groupby(["task", "method", "variant", "seed"], sort=False, dropna=False):
        floor, bert = majority_floor(majority, task), bert_metric.get(task)
        if bert is None or at_or_below(bert, floor):
            continue
        learned_nothing = (rows["evaluated_share"] >= 0.99) & (at_or_below(rows["metric"], floor) | (rows["top_class_share"] >= 99.5))
        dead = rows[learned_nothing & (rows["layer"] < rows["layer"].max())]
        if len(dead):
            layers = ", ".join(f"{int(r.layer)} ({r.metric:.1f})" for r in dead.itertuples(index=False))
            flags.append(f"{task} {method}/{variant} seed {seed}: exit heads at layers {layers} learned nothing (at or below "
                         f"the majority class, {floor:.1f}, or one class for every example) while BERT reaches {bert:.1f}: "
                         "exiting there is a guess")
    return flags


def write_oracle_tables(oracles: Iterable[dict], out_dir: str | Path, *, methods: MethodCatalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The oracle and heads tables from ``smartbert oracle`` JSON contents (:func:`read_oracles`)."""
    summary, heads = oracle_frames(oracles)
    fmt = lambda v, spec=".1f": "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)  # noqa: E731
    model = lambda f: [methods.model_label(m, v) for m, v in zip(f["method"], f["variant"])]  # noqa: E731
    summary_display = pd.DataFrame({
        "task": summary["task"], "model": model(summary), "seed": summary["seed"],
        "oracle metric": summary["oracle_metric"].map(fmt), "oracle cost": summary["oracle_cost_pct"].map(lambda v: fmt(v, ".0f") + "%"),
        "oracle exit layer": summary["oracle_avg_exit_layer"].map(lambda v: fmt(v, ".2f")),
        "policy cost at oracle metric": summary["policy_cost_pct_at_oracle_metric"].map(lambda v: fmt(v, ".0f") + "%"),
        "policy metric at oracle cost": summary["policy_metric_at_oracle_cost"].map(fmt),
        "flat curve": summary["flat_curve_reason"].fillna("")})
    heads_display = pd.DataFrame({
        "task": heads["task"], "model": model(heads), "seed": heads["seed"], "layer": heads["layer"],
        "evaluated": heads["evaluated_share"].map(lambda v: f"{v:.0%}"), "metric": heads["metric"].map(fmt),
        "agrees with last": heads["agreement_with_last"].map(fmt), "top class": heads["top_class_share"].map(fmt),
        "exits at S": [f"{int(n)} (S={s:g})" if pd.notna(n) else "" for n, s in zip(heads["exits_here"], heads["threshold"])]})
    write_table(summary, summary_display, Path(out_dir) / "oracle", CAPTIONS["oracle"])
    write_table(heads, heads_display, Path(out_dir) / "heads", CAPTIONS["heads"])
    return summary, heads


CAPTIONS = {
    "oracle": "Oracle exits: each example leaves at the earliest head that is right and stays right to the last layer "
              "(full-depth metric at the least cost these heads allow), against the method's own policy over its dense "
              "grid: the cost it needs to reach the oracle's metric, and the metric it attains at the oracle's cost.",
    "heads": "Every exit head on dev: where it is evaluated (gated models: where its layer ran), its main metric there, its "
             "agreement with the last head, the share of its most predicted class, and how many examples exit at it at "
             "the middle Table 1 threshold.",
}
