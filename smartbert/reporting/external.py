"""Baselines from outside this suite: sweep files written by a rule of the user's own (another
codebase's results, numbers from a paper) enter Tables 1 and 3, Figure 4 and REPORT.md beside the
suite's own methods (README, "A baseline from outside: a rule of your own").

Such a file is a sweep CSV (:data:`smartbert.core.formats.SWEEP`, ``format_version`` 1): one row per
operating point of one method on one task. Its columns and units:

- ``task`` (a GLUE name as ``smartbert list`` prints it), ``method`` (the profile's ``external:``
  name, not a registered method), ``variant`` (``default``), ``label`` (the name tables and the
  legend show), ``seed`` (an integer; several seeds are averaged as the suite's own);
- ``policy`` and ``threshold``: the exit policy the point was taken at (``entropy`` with its S,
  ``patience``, or ``none`` for a single static point) and its value (0 for ``none``);
- ``metric``: the task's main metric in points (accuracy or F1 in [0, 100], MCC in [-100, 100]) on
  the full dev set; ``accuracy`` where known;
- ``avg_flops_paper_M``: average FLOPs per example in millions in the paper's convention (2 x MACs
  of every linear layer: encoder layers, exit heads and gates, at the sequence length the paper
  counts, 128; README "FLOPs conventions"); ``cost_pct_paper``: the same as a % of its own BERT's
  full depth (what the paper's tables show);
- ``experiment_hash``: any string naming the configuration (rows of one task and method must share
  it); ``config_hash``, ``commit``, ``train_device``, ``trace_device``, ``n`` where known.

:func:`paper_sweep` is the worked example: the paper's own transcribed Table 1, one method of it as
such a file (``workflow/rules/external/paper.smk``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import SWEEP
from smartbert.core.names import DEFAULT_VARIANT
from smartbert.reporting.methods import MethodInfo

#: the columns an external sweep must have beyond those every sweep has
EXTERNAL_REQUIRED = (*SWEEP.required, "label")


def paper_sweep(table1_csv: str | Path, task: str, method: MethodInfo, name: str = "paper") -> pd.DataFrame:
    """``method``'s rows of the paper's Table 1 (``results/paper/table1.csv``) on ``task`` as an
    external sweep named ``name``: its thresholds S, metric, FLOPs and cost % exactly as printed
    (bert-base, sequence length 128)."""
    paper = pd.read_csv(table1_csv)
    ours = paper["method"] == method.name
    rows = paper[(paper["task"] == task) & ours & (paper["variant"].fillna(DEFAULT_VARIANT) == DEFAULT_VARIANT)]
    if rows.empty:
        known = sorted(paper.loc[ours, "task"].unique())
        raise SmartBertError(f"the paper's Table 1 ({table1_csv}) has no {method.name} row for {task!r}; it has {known}: "
                             f"narrow the external sweep's `tasks:` to those")
    static = method.static
    return pd.DataFrame({
        "variant": DEFAULT_VARIANT, "method": name, "label": f"{method.display_name} (paper, BERT-base)", "task": task,
        "policy": "none" if static else method.policy, "threshold": 0.0 if static else rows["threshold"].astype(float),
        "accuracy": rows["metric"].where(rows["metric_name"] == "accuracy"), "metric": rows["metric"].astype(float),
        "avg_flops_paper_M": rows["flops_M"].astype(float), "cost_pct_paper": rows["cost_pct"].astype(float),
        "seed": 0, "config_hash": f"paper-{method.name}", "experiment_hash": f"paper-{method.name}",
        "commit": "transcribed from the paper", "train_device": "", "trace_device": "",
    }).reset_index(drop=True)


def write_external_sweep(frame: pd.DataFrame, out: str | Path) -> None:
    """An external sweep checked against the schema above, written as a sweep file."""
    missing = [c for c in EXTERNAL_REQUIRED if c not in frame.columns]
    if missing:
        raise SmartBertError(f"an external sweep for {out} lacks column(s) {missing} (README, \"A baseline from outside\")")
    SWEEP.write_csv(frame, out)
