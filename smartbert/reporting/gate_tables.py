"""The gate tables: per gated model and layer, how often its gate skips and the values' histogram
(:func:`smartbert.replay.gates.gate_statistics`, carried in the oracle JSONs), and what the skip-only
path (gates on, no early exit: Table 3) costs in metric against BERT."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smartbert.core.names import BERT, DEFAULT_VARIANT, SKIP_ONLY, SMARTBERT
from smartbert.replay.gates import BINS
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.table_files import write_table

#: metric points: a gated model whose skip-only path is this far or more below BERT is flagged
#: (the paper reports 1-2 points for its lambda; more means the gates cost what they should not)
SKIP_ONLY_MARGIN = 2.0
SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(shares: Iterable[float]) -> str:
    """A histogram as one character per bin (height relative to the fullest bin)."""
    shares = list(shares)
    top = max(shares) if shares and max(shares) > 0 else 1.0
    return "".join(SPARK[int(round(s / top * (len(SPARK) - 1)))] for s in shares)


def gate_frame(oracles: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per gated model and layer from ``smartbert oracle`` JSON contents."""
    rows = []
    for found in oracles:
        summary = found["summary"]
        for gate in found.get("gates") or []:
            rows.append({**{k: summary.get(k) for k in ("task", "method", "variant", "seed")}, **gate})
    return pd.DataFrame(rows, columns=["task", "method", "variant", "seed", "layer", "skip_rate", "mean_gate", "histogram"])


def skip_only_rows(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Every gated SmartBERT model's skip-only point (gates on, no early exit), under the model's own
    variant name: the default's ``skiponly`` sweep (Table 3's exact cost, no exit heads evaluated), and
    for every other variant its point at entropy threshold 0, where no exit fires (eq. 10 exits only
    below S), so the metric is the skip-only path's while the cost still counts the exit heads."""
    smart = sweeps[sweeps["method"] == SMARTBERT]
    own = smart[smart["variant"] == SKIP_ONLY].assign(variant=DEFAULT_VARIANT)
    others = smart[~smart["variant"].isin([DEFAULT_VARIANT, SKIP_ONLY])]
    if len(others):
        others = others[(others["policy"] == "entropy") & np.isclose(others["threshold"].astype(float), 0.0)]
    return pd.concat([own, others], ignore_index=True)


def skip_only_gaps(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Per gated SmartBERT model (default and every variant), task and seed: its skip-only metric (and
    layers run) against BERT's, the gap, and whether it is at or beyond ``SKIP_ONLY_MARGIN``
    (``costs_too_much``)."""
    bert = sweeps[sweeps["method"] == BERT].groupby(["task", "seed"])["metric"].max()
    rows = []
    for row in skip_only_rows(sweeps).itertuples(index=False):
        reference = bert.get((row.task, row.seed), np.nan)
        gap = float(row.metric - reference)
        rows.append({"task": row.task, "variant": row.variant, "seed": row.seed, "skip_only_metric": float(row.metric),
                     "bert_metric": float(reference), "gap": gap, "avg_layers_run": float(row.avg_layers_run),
                     "cost_pct": float(row.cost_pct_paper), "costs_too_much": bool(np.isfinite(gap) and gap <= -SKIP_ONLY_MARGIN)})
    return pd.DataFrame(rows, columns=["task", "variant", "seed", "skip_only_metric", "bert_metric", "gap", "avg_layers_run",
                                       "cost_pct", "costs_too_much"])


CAPTION = ("Skipping gates on dev: per layer, the share of examples whose gate skips it (G >= 0.5) and the gate values' "
           f"histogram over [0, 1] in {BINS} bins (one character per bin, height relative to the fullest); then the "
           f"skip-only path (gates on, no exits) against BERT: a gap of {SKIP_ONLY_MARGIN:g} points or more is flagged.")


def write_gate_tables(oracles: Iterable[dict[str, Any]], sweeps: pd.DataFrame, out_dir: str | Path, *,
                      methods: MethodCatalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``gates.{csv,md,tex}`` (per gated model and layer) and ``skip_only_gap.{csv,md,tex}``."""
    gates, gaps = gate_frame(oracles), skip_only_gaps(sweeps)
    layers = sorted(gates["layer"].unique()) if len(gates) else []
    display = []
    for (task, method, variant, seed), rows in gates.groupby(["task", "method", "variant", "seed"], sort=False):
        by_layer = rows.set_index("layer")
        display.append({"task": task, "model": methods.model_label(method, variant), "seed": seed,
                        **{f"layer {layer}": f"{by_layer.at[layer, 'skip_rate']:.0f}% {sparkline(by_layer.at[layer, 'histogram'])}"
                           for layer in layers if layer in by_layer.index}})
    tidy = gates.assign(histogram=gates["histogram"].map(lambda h: " ".join(f"{v:.4f}" for v in h)))
    write_table(tidy, pd.DataFrame(display), Path(out_dir) / "gates", CAPTION)
    gap_display = pd.DataFrame({"task": gaps["task"], "model": [methods.model_label(SMARTBERT, v) for v in gaps["variant"]],
                                "seed": gaps["seed"], "skip-only": gaps["skip_only_metric"].map("{:.1f}".format),
                                "BERT": gaps["bert_metric"].map("{:.1f}".format), "gap": gaps["gap"].map("{:+.1f}".format),
                                "layers run": gaps["avg_layers_run"].map("{:.2f}".format), "cost": gaps["cost_pct"].map("{:.0f}%".format),
                                "flag": gaps["costs_too_much"].map(lambda v: f"gap >= {SKIP_ONLY_MARGIN:g}" if v else "")})
    write_table(gaps, gap_display, Path(out_dir) / "skip_only_gap",
                f"Each gated SmartBERT model's skip-only path (Table 3; a variant's: its point at S=0, exit heads' cost "
                f"included) against BERT per task and seed; flagged where it loses {SKIP_ONLY_MARGIN:g} points or more.")
    return gates, gaps
