"""The paper's figures from averaged sweeps: metric against cost %, one panel per task.

Figure 4: early-exit methods as curves (one point per threshold), static methods as points;
Figure 5: SmartBERT with and without cross-layer contrastive learning; Figure 6: soft, hard and
SP gate training. With several seeds each curve is the mean with a +-1 std band of the metric.
The majority class is a dashed line: a curve on it learned nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from smartbert.core.io import atomic_path  # noqa: E402
from smartbert.core.names import DEFAULT_VARIANT, SMARTBERT  # noqa: E402
from smartbert.reporting.guaranteed import load_calibrations  # noqa: E402
from smartbert.reporting.methods import MethodCatalogue  # noqa: E402
from smartbert.reporting.results import aggregate, load_data_summaries, load_sweeps  # noqa: E402
from smartbert.reporting.tables import latency_devices  # noqa: E402


@dataclass(frozen=True)
class Series:
    """One method variant in a figure: drawn as a curve, or as a single point (static methods)."""

    method: str
    variant: str
    label: str
    point: bool = False


def tradeoff_figure(agg: pd.DataFrame, tasks: Sequence[str], series: Sequence[Series], majority: dict[str, dict],
                    title: str, x: str = "cost_pct_paper", xlabel: str = "cost (% of BERT FLOPs)") -> plt.Figure:
    """Metric vs ``x`` (cost % in the paper's convention, or latency) per task panel."""
    figure, axes = task_panels(len(tasks))
    colours = dict(zip([s.label for s in series], sns.color_palette("colorblind", len(series))))
    for axis, task in zip(axes.flat, tasks):
        for item in series:
            data = agg[(agg["task"] == task) & (agg["method"] == item.method) & (agg["variant"] == item.variant)]
            if data.empty:
                continue
            data = data.sort_values([x, "metric"])
            colour = colours[item.label]
            if item.point:
                axis.scatter(data[x], data["metric"], s=60, marker="D", color=colour, label=item.label, zorder=3)
                continue
            axis.plot(data[x], data["metric"], marker="o", markersize=3, color=colour, label=item.label)
            if data["n_seeds"].max() > 1:
                axis.fill_between(data[x], data["metric"] - data["metric_std"],
                                  data["metric"] + data["metric_std"], color=colour, alpha=0.2, linewidth=0)
        if task in majority:
            axis.axhline(majority[task]["majority_class"]["metric"], color="grey", linestyle="--", linewidth=1,
                         label="majority class")
        metric = majority.get(task, {}).get("main_metric", "metric")
        axis.set(title=task, xlabel=xlabel, ylabel={"f1": "F1", "mcc": "MCC", "accuracy": "Accuracy"}.get(metric, metric))
    finish_panels(figure, axes, len(tasks), title, legend_columns=6, legend_room=(0.08, 0.05))
    return figure


def task_panels(count: int) -> tuple[plt.Figure, Any]:
    """A grid of ``count`` task panels, three to a row, in the figures' theme."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    columns = min(3, max(1, count))
    rows = math.ceil(count / columns)
    return plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)


def finish_panels(figure: plt.Figure, axes: Any, used: int, title: str, legend_columns: int,
                  legend_room: tuple[float, float]) -> None:
    """Hide the panels past ``used``, put one legend entry per label under the grid (at most
    ``legend_columns`` across), title it; ``legend_room``: the share of the height kept for the legend
    with one row of panels, and with several."""
    for axis in list(axes.flat)[used:]:
        axis.set_visible(False)
    handles = {label: handle for axis in axes.flat for handle, label in zip(*axis.get_legend_handles_labels())}
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(legend_columns, len(handles)), frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, legend_room[0] if axes.shape[0] == 1 else legend_room[1], 1, 1))


def save_figure(figure: plt.Figure, stem: str | Path) -> list[Path]:
    """``stem``.png and .pdf, each written atomically; the PDF without a creation date, so the same
    figure gives the same bytes (a republished run differs only where its numbers do)."""
    paths = []
    for suffix, metadata in ((".png", None), (".pdf", {"CreationDate": None})):
        path = Path(stem).with_suffix(suffix)
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=suffix[1:], dpi=150, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(figure)
    return paths


def table1_series(methods: Sequence[str], labels: dict[str, str] | None = None, *, catalogue: MethodCatalogue) -> list[Series]:
    """Figure 4: every method's default variant; static methods (BERT, DistilBERT) as points."""
    labels = labels or {}
    ordered = sorted(methods, key=catalogue.order)
    return [Series(m, DEFAULT_VARIANT, labels.get(m) or catalogue.display_name(m), point=catalogue.is_static(m))
            for m in ordered]


def ablation_series(method: str, variants: Sequence[str], default_label: str) -> list[Series]:
    """Figures 5 and 6: the method's default beside its variants."""
    return [Series(method, DEFAULT_VARIANT, default_label)] + [Series(method, v, v) for v in variants]


def write_figure(kind: str, sweep_paths: Sequence[str], data_paths: Sequence[str], tasks: Sequence[str],
                 methods: Sequence[str], variants: Sequence[str], stem: str | Path, *, catalogue: MethodCatalogue) -> None:
    """fig4 (trade-off of every method), fig5 (contrastive learning), fig6 (gate training)."""
    agg = aggregate(load_sweeps(sweep_paths))
    majority = load_data_summaries(data_paths)
    if kind == "fig4":
        defaults = agg[agg["variant"] == DEFAULT_VARIANT]
        labels = dict(zip(defaults["method"], defaults["label"])) if "label" in agg else {}
        series, title = table1_series(methods, labels, catalogue=catalogue), "Figure 4: metric vs computational cost"
    elif kind == "fig5":
        series, title = ablation_series(SMARTBERT, variants, "contrast"), "Figure 5: cross-layer contrastive learning"
    elif kind == "fig6":
        series, title = ablation_series(SMARTBERT, variants, "SP"), "Figure 6: gate training (SP, soft, hard)"
    else:
        raise ValueError(f"unknown figure {kind!r}; known: fig4, fig5, fig6")
    tasks = [t for t in tasks if t in set(agg["task"])]
    save_figure(tradeoff_figure(agg, tasks, series, majority, title), stem)


def write_latency_figure(table1_path: str | Path, data_paths: Sequence[str], tasks: Sequence[str], methods: Sequence[str],
                         stem: str | Path, *, catalogue: MethodCatalogue) -> None:
    """Beside Figure 4: the metric against measured batch-1 latency (ms per example) at Table 1's
    points (thresholds S, or patience); static methods as points."""
    table = pd.read_csv(table1_path)
    measured = table[table["ms_per_example"].notna()]
    labels = dict(zip(measured["method"], measured["label"]))
    tasks = [t for t in tasks if t in set(measured["task"])]
    timed_on = latency_devices(table)
    figure = tradeoff_figure(measured, tasks, table1_series(methods, labels, catalogue=catalogue), load_data_summaries(data_paths),
                             "Figure 4 (latency): metric vs batch-1 latency" + (f"\n{timed_on}" if timed_on else ""),
                             x="ms_per_example", xlabel="latency (ms per example, batch 1)")
    save_figure(figure, stem)


def guaranteed_figure(calibrations: pd.DataFrame, tasks: Sequence[str], *, catalogue: MethodCatalogue) -> plt.Figure:
    """Cost at guaranteed quality: the mean test-half cost (FLOPs %) each method needs against the risk
    level eps (in points), per task panel, averaged over seeds; Learn-then-Test solid, conformal risk
    control dashed (the empirical pick, which guarantees nothing, is left out)."""
    frame = calibrations[calibrations["procedure"].isin(["ltt", "crc"])]
    loss = "/".join(dict.fromkeys(frame["loss"])) if "loss" in frame and len(frame) else "disagreement"
    frame = frame.groupby(["task", "method", "label", "procedure", "epsilon"], as_index=False)["trial_cost_pct_mean"].mean()
    tasks = [t for t in tasks if t in set(frame["task"])]
    figure, axes = task_panels(len(tasks))
    methods = sorted(set(frame["method"]), key=catalogue.order)
    colours = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    for axis, task in zip(axes.flat, tasks):
        for method in methods:
            for procedure, style in (("ltt", "-"), ("crc", "--")):
                data = frame[(frame["task"] == task) & (frame["method"] == method) & (frame["procedure"] == procedure)]
                if data.empty:
                    continue
                data = data.sort_values("epsilon")
                axis.plot(100 * data["epsilon"], data["trial_cost_pct_mean"], marker="o", markersize=3, linestyle=style,
                          color=colours[method], label=f"{data['label'].iloc[0]} ({procedure})")
        axis.set(title=task, xlabel=f"risk level eps (points of {loss})", ylabel="cost (% of BERT FLOPs)")
        axis.set_ylim(bottom=0)
    finish_panels(figure, axes, len(tasks), "Cost at guaranteed quality (mean over random calibration/test halves of dev)",
                  legend_columns=4, legend_room=(0.15, 0.1))
    return figure


def write_guaranteed_figure(calibration_paths: Sequence[str], tasks: Sequence[str], stem: str | Path, *,
                            catalogue: MethodCatalogue) -> None:
    """:func:`guaranteed_figure` of the calibration CSVs, as ``stem``.png and .pdf."""
    save_figure(guaranteed_figure(load_calibrations(calibration_paths), tasks, catalogue=catalogue), stem)
