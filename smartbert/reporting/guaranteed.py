"""Cost at guaranteed quality (smartbert.replay.calibrate): per task, method and risk level ε, the
threshold each procedure ships, what it costs (FLOPs % and measured batch-1 ms), and what it gave on
random calibration/test splits (mean test cost and risk, share of picks over ε on all of dev)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from smartbert.core.formats import CALIBRATION
from smartbert.core.names import DEFAULT_VARIANT
from smartbert.replay.calibrate import PROCEDURES, at_epsilons, loss_meaning
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.results import load_latency
from smartbert.reporting.table_files import write_table

KEYS = ["task", "method", "procedure", "loss", "epsilon"]
#: The shipped model's numbers: the first seed's (the model latency times), never averaged with others.
SHIPPED = ["label", "guarantee", "policy", "delta", "threshold", "certified", "n", "cost_pct", "metric", "full_metric", "risk"]
#: The random halves' numbers: averaged over seeds.
AVERAGED = ["trial_threshold_median", "trial_certified_rate", "trial_cost_pct_mean", "trial_cost_pct_std",
            "trial_risk_mean", "trial_violation_rate", "trial_test_violation_rate"]
CAPTION = ("Cost at guaranteed quality: per task and method, the threshold each procedure ships when calibrated on all of "
           "dev (the first seed's model, where there are several), with its cost (FLOPs %, paper convention; ms per "
           "example at batch 1 where timed) and, over random calibration/test halves of dev (averaged over seeds), the mean "
           "test cost, the mean test risk, the share of picks whose risk on all of dev exceeds eps (dev taken as the "
           "population: the event ltt bounds by delta) and the share whose test half's risk exceeds eps (noisier). Risk: "
           "{loss}. ltt bounds P(risk > eps) <= delta, crc bounds E[risk] <= eps, empirical bounds nothing. '-': this "
           "procedure certified no threshold, and the one that never exits is shipped (its cost counts the exit heads "
           "it evaluates).")


def load_calibrations(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All rows of the calibration CSVs (``variant`` default where untagged)."""
    frames = [CALIBRATION.read_csv(path, dtype={"config_hash": str, "experiment_hash": str, "commit": str}) for path in paths]
    if not frames:
        return pd.DataFrame(columns=[*KEYS, *AVERAGED])
    frame = pd.concat(frames, ignore_index=True)
    if "variant" not in frame:
        frame["variant"] = DEFAULT_VARIANT
    return frame


def guaranteed_table(calibrations: pd.DataFrame, latency: pd.DataFrame, epsilons: Sequence[float], *,
                     methods: MethodCatalogue) -> pd.DataFrame:
    """One row per (task, method, procedure, ε in ``epsilons``): the first seed's shipped threshold, its
    cost, metric and measured ms (``latency``: `smartbert latency --calibrated` rows, which time the first
    seed), and the random halves' numbers averaged over seeds."""
    rows = at_epsilons(calibrations, epsilons)
    if rows.empty:
        return pd.DataFrame(columns=[*KEYS, *SHIPPED, "ms_per_example", *AVERAGED, "seeds"])
    rows = rows.sort_values("seed")
    grouped = rows.groupby(KEYS, sort=False)
    table = grouped[AVERAGED].mean()
    first = grouped[SHIPPED].first()
    table = pd.concat([first, table, grouped.agg(seeds=("seed", "nunique"))], axis=1).reset_index()
    timed = {(r.task, r.method, round(float(r.threshold), 6)): float(r.ms_per_example) for r in latency.itertuples(index=False)}
    table["ms_per_example"] = [timed.get((r.task, r.method, round(float(r.threshold), 6)), float("nan"))
                               for r in table.itertuples(index=False)]
    order = {name: i for i, name in enumerate(PROCEDURES)}  # as registered: ltt, crc, empirical
    table = table.assign(_m=table["method"].map(methods.order), _p=table["procedure"].map(lambda p: order.get(p, len(order))))
    return table.sort_values(["epsilon", "task", "_m", "_p"]).drop(columns=["_m", "_p"]).reset_index(drop=True)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown/LaTeX layout: one row per (ε, task, method, procedure), numbers rounded."""
    def threshold(row) -> str:
        value = f"{row.threshold:g}" if row.policy != "patience" else f"{int(row.threshold)}"
        return value if row.certified else "-"

    return pd.DataFrame({
        "eps": table["epsilon"].map(lambda e: f"{100 * e:g} pt"),
        "task": table["task"], "method": table["label"], "procedure": table["procedure"],
        "S shipped": [threshold(r) for r in table.itertuples(index=False)],
        "FLOPs %": table["cost_pct"].map(lambda v: f"{v:.1f}"),
        "ms": table["ms_per_example"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "test cost %": [f"{m:.1f} ± {s:.1f}" for m, s in zip(table["trial_cost_pct_mean"], table["trial_cost_pct_std"])],
        "test risk": table["trial_risk_mean"].map(lambda v: f"{100 * v:.2f} pt"),
        "over eps (dev)": table["trial_violation_rate"].map(lambda v: f"{100 * v:.0f}%"),
        "over eps (test half)": table["trial_test_violation_rate"].map(lambda v: f"{100 * v:.0f}%"),
    })


def write_guaranteed_table(calibration_paths: Sequence[str], latency_paths: Sequence[str], epsilons: Sequence[float],
                           out_dir: str | Path, *, methods: MethodCatalogue) -> None:
    """tables/guaranteed.{csv,md,tex} from the calibration CSVs and their latency tables."""
    calibrations = load_calibrations(calibration_paths)
    table = guaranteed_table(calibrations, load_latency(latency_paths), epsilons, methods=methods)
    write_table(table, display(table), Path(out_dir) / "guaranteed",
                CAPTION.format(loss=loss_meaning(sorted(set(calibrations["loss"]))) if len(calibrations) else loss_meaning([])))
