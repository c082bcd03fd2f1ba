"""Quality-vs-cost curves compared as a whole: Pareto front, area under the curve over a common cost
range, and the area between two curves (crossing curves included), on any cost axis (FLOPs cost %,
latency %).

A curve is a method's sweep points (metric, cost). What a user can actually get at a cost budget
``x`` is the best metric among the points that cost at most ``x`` (they pick the cheaper operating
point): the *attainable* curve, a non-decreasing step function through the Pareto front. Every
comparison here reads that function, so a point that is matched at a lower cost is matched, and a
curve that lies on another's gets a gap of exactly zero (a tie, never a win).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COST = "cost_pct_paper"
METRIC = "metric"


def pareto_front(points: pd.DataFrame, cost: str = COST, metric: str = METRIC) -> pd.DataFrame:
    """The points no other point beats (higher metric at equal or lower cost), cheapest first."""
    ordered = points.sort_values([cost, metric], ascending=[True, False])
    best, keep = -math.inf, []
    for index, value in zip(ordered.index, ordered[metric]):
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


def attainable(points: pd.DataFrame, budgets: np.ndarray | float, cost: str = COST, metric: str = METRIC) -> np.ndarray:
    """Best metric at cost <= each budget (NaN below the cheapest point)."""
    front = pareto_front(points.dropna(subset=[cost, metric]), cost, metric)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=float))
    if front.empty:
        return np.full(budgets.shape, np.nan)
    where = np.searchsorted(front[cost].to_numpy(), budgets + 1e-9, side="right") - 1
    values = front[metric].to_numpy()
    return np.where(where >= 0, values[np.clip(where, 0, None)], np.nan)


def gaps(curve: pd.DataFrame, baseline: pd.DataFrame, cost: str = COST, metric: str = METRIC) -> pd.Series:
    """Per baseline point: ``curve``'s attainable metric at that point's cost minus the point's metric
    (NaN where ``curve`` has no point that cheap: that point is not covered)."""
    if curve.empty:
        return pd.Series(np.nan, index=baseline.index)
    return pd.Series(attainable(curve, baseline[cost].to_numpy(), cost, metric) - baseline[metric].to_numpy(),
                     index=baseline.index)


def common_range(curves: list[pd.DataFrame], cost: str = COST) -> tuple[float, float]:
    """Costs where every curve is defined: from the dearest of the cheapest points to the cheapest of
    the dearest ones (an empty range has lo >= hi)."""
    return max(c[cost].min() for c in curves), min(c[cost].max() for c in curves)


def _integral(points: pd.DataFrame, lo: float, hi: float, cost: str, metric: str) -> float:
    """Integral of the attainable step function over [lo, hi] (defined there: lo >= cheapest cost)."""
    front = pareto_front(points, cost, metric)
    steps = np.concatenate([[lo], front[cost].to_numpy()[(front[cost] > lo).to_numpy() & (front[cost] < hi).to_numpy()], [hi]])
    heights = attainable(points, steps[:-1], cost, metric)
    return float(np.sum(heights * np.diff(steps)))


def normalised_area(points: pd.DataFrame, lo: float, hi: float, cost: str = COST, metric: str = METRIC) -> float:
    """Area under the attainable curve over [lo, hi] divided by the range: the mean metric a budget
    drawn uniformly from the range attains (NaN for an empty range)."""
    if not hi > lo:
        return math.nan
    return _integral(points, lo, hi, cost, metric) / (hi - lo)


def area_between(curve: pd.DataFrame, other: pd.DataFrame, lo: float, hi: float, cost: str = COST,
                 metric: str = METRIC) -> dict[str, float]:
    """Signed mean gap of ``curve`` over ``other`` on [lo, hi] (metric points), and the share of the
    range where ``curve`` is strictly above and strictly below (crossing curves: both are non-zero)."""
    if not hi > lo:
        return {"mean_gap": math.nan, "share_above": math.nan, "share_below": math.nan}
    costs = pd.concat([curve[cost], other[cost]])
    edges = np.unique(np.concatenate([[lo, hi], costs[(costs > lo) & (costs < hi)].to_numpy()]))
    widths = np.diff(edges)
    difference = attainable(curve, edges[:-1], cost, metric) - attainable(other, edges[:-1], cost, metric)
    span = hi - lo
    return {"mean_gap": float(np.sum(difference * widths) / span),
            "share_above": float(np.sum(widths[difference > 1e-9]) / span),
            "share_below": float(np.sum(widths[difference < -1e-9]) / span)}
