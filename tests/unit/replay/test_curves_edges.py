"""Attainable curves at their edges (issue 31, item 4: tests that kill mutmut's survivors): ties in
cost or metric on the Pareto front, a budget exactly at a point's cost, empty curves and ranges,
areas and shares worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smartbert.replay import curves


def points(*pairs: tuple[float, float]) -> pd.DataFrame:
    """A curve of (cost %, metric) points, indexed from 10 so positions and labels differ."""
    return pd.DataFrame([{"cost_pct_paper": c, "metric": m} for c, m in pairs], index=range(10, 10 + len(pairs)))


def test_pareto_front_drops_dearer_points_that_only_match() -> None:
    """A point is kept only if its metric beats every cheaper one: equal metric at a higher cost is
    dominated, and at equal cost only the best metric stays."""
    curve = points((50, 80.0), (30, 80.0), (30, 85.0), (60, 85.0), (70, 86.0))
    front = curves.pareto_front(curve)
    assert front[["cost_pct_paper", "metric"]].values.tolist() == [[30, 85.0], [70, 86.0]]
    assert front.index.tolist() == [12, 14]  # the rows themselves, cheapest first


def test_pareto_front_reads_the_named_columns() -> None:
    curve = pd.DataFrame({"ms": [3.0, 1.0, 2.0], "acc": [70.0, 60.0, 50.0], "cost_pct_paper": [1, 2, 3], "metric": [0, 0, 0]})
    assert curves.pareto_front(curve, cost="ms", metric="acc")[["ms", "acc"]].values.tolist() == [[1.0, 60.0], [3.0, 70.0]]
    got = curves.attainable(curve, [0.5, 1.0, 2.5, 3.0], cost="ms", metric="acc")
    assert math.isnan(got[0]) and got[1:].tolist() == [60.0, 60.0, 70.0]


def test_a_budget_exactly_at_a_points_cost_attains_it() -> None:
    curve = points((30, 80.0), (50, 85.0))
    assert curves.attainable(curve, 50.0).tolist() == [85.0]
    assert curves.attainable(curve, 49.999).tolist() == [80.0]
    assert curves.attainable(curve, 30.0).tolist() == [80.0]
    assert math.isnan(curves.attainable(curve, 29.999)[0])


def test_attainable_ignores_points_without_cost_or_metric_and_is_nan_for_an_empty_curve() -> None:
    curve = points((30, 80.0), (40, float("nan")), (float("nan"), 99.0), (50, 85.0))
    assert curves.attainable(curve, [45.0, 60.0]).tolist() == [80.0, 85.0]
    empty = curves.attainable(points((40, float("nan"))), np.array([10.0, 20.0]))  # no usable point
    assert empty.shape == (2,) and np.isnan(empty).all()


def test_gaps_are_per_baseline_point_and_nan_where_not_covered() -> None:
    curve = points((30, 80.0), (50, 85.0))
    baseline = points((20, 70.0), (40, 82.0), (60, 80.0))
    got = curves.gaps(curve, baseline)
    assert got.index.tolist() == baseline.index.tolist()
    assert math.isnan(got.iloc[0]) and got.iloc[1:].tolist() == [80.0 - 82.0, 85.0 - 80.0]
    nothing = curves.gaps(points().reindex(columns=["cost_pct_paper", "metric"]), baseline)
    assert nothing.index.tolist() == baseline.index.tolist() and nothing.isna().all()


def test_common_range_is_the_overlap_of_the_curves() -> None:
    a, b, c = points((10, 1.0), (90, 2.0)), points((20, 1.0), (70, 2.0)), points((40, 1.0), (95, 2.0))
    assert curves.common_range([a, b, c]) == (40, 70)
    assert curves.common_range([a]) == (10, 90)
    lo, hi = curves.common_range([points((10, 1.0), (20, 1.0)), points((30, 1.0), (40, 1.0))])
    assert (lo, hi) == (30, 20) and not hi > lo  # disjoint: an empty range


def test_normalised_area_of_a_step_curve_by_hand() -> None:
    """Steps at 20 (60), 40 (80), 70 (90) over [30, 100]: (60 x 10 + 80 x 30 + 90 x 30) / 70."""
    curve = points((20, 60.0), (40, 80.0), (70, 90.0), (50, 75.0))
    assert curves.normalised_area(curve, 30, 100) == pytest.approx((60 * 10 + 80 * 30 + 90 * 30) / 70)
    assert curves.normalised_area(curve, 40, 70) == pytest.approx(80.0)  # the step at 70 starts at hi
    assert curves.normalised_area(curve, 45, 55) == pytest.approx(80.0)
    assert math.isnan(curves.normalised_area(curve, 50, 40))


def test_area_between_by_hand_with_shares() -> None:
    """a: 70 from 20, 90 from 60; b: 80 from 20, 85 from 50; on [20, 80]: a - b = -10 on [20, 50),
    -15 on [50, 60), +5 on [60, 80]."""
    a, b = points((20, 70.0), (60, 90.0)), points((20, 80.0), (50, 85.0))
    found = curves.area_between(a, b, 20, 80)
    assert found["mean_gap"] == pytest.approx((-10 * 30 - 15 * 10 + 5 * 20) / 60)
    assert found["share_above"] == pytest.approx(20 / 60) and found["share_below"] == pytest.approx(40 / 60)
    reverse = curves.area_between(b, a, 20, 80)
    assert reverse["mean_gap"] == pytest.approx(-found["mean_gap"])
    assert reverse["share_above"] == pytest.approx(40 / 60) and reverse["share_below"] == pytest.approx(20 / 60)
    empty = curves.area_between(a, b, 50, 50)
    assert set(empty) == {"mean_gap", "share_above", "share_below"} and all(math.isnan(v) for v in empty.values())


def test_area_between_counts_a_gap_within_rounding_as_equal() -> None:
    a, b = points((20, 80.0), (60, 90.0)), points((20, 80.0 + 1e-12), (60, 90.0 - 1e-12))
    found = curves.area_between(a, b, 20, 100)
    assert found["share_above"] == 0.0 and found["share_below"] == 0.0
    assert found["mean_gap"] == pytest.approx(0.0, abs=1e-9)


def test_areas_and_gaps_read_the_named_columns() -> None:
    """Latency curves: cost in ``ms``, metric in ``acc``; decoy default columns must not be read."""
    a = pd.DataFrame({"ms": [20.0, 60.0], "acc": [70.0, 90.0], "cost_pct_paper": [1.0, 2.0], "metric": [0.0, 0.0]})
    b = pd.DataFrame({"ms": [20.0, 50.0], "acc": [80.0, 85.0], "cost_pct_paper": [3.0, 4.0], "metric": [9.0, 9.0]})
    assert curves.normalised_area(a, 20, 100, cost="ms", metric="acc") == pytest.approx((70 * 40 + 90 * 40) / 80)
    found = curves.area_between(a, b, 20, 80, cost="ms", metric="acc")
    assert found["mean_gap"] == pytest.approx((-10 * 30 - 15 * 10 + 5 * 20) / 60)
    assert curves.gaps(a, b, cost="ms", metric="acc").tolist() == [70.0 - 80.0, 70.0 - 85.0]
    assert curves.common_range([a, b], cost="ms") == (20.0, 50.0)


def test_points_outside_the_range_only_set_the_height_at_its_ends() -> None:
    """Front points at 20 (60) and 25 (70) below lo = 30 and at 120 (95) above hi = 100: over [30, 100]
    the curve is 70 until 40, then 80 until 70, then 90: (70 x 10 + 80 x 30 + 90 x 30) / 70."""
    curve = points((20, 60.0), (25, 70.0), (40, 80.0), (70, 90.0), (120, 95.0))
    assert curves.normalised_area(curve, 30, 100) == pytest.approx((70 * 10 + 80 * 30 + 90 * 30) / 70)
    other = points((10, 75.0), (110, 99.0))  # 75 over the whole range
    found = curves.area_between(curve, other, 30, 100)
    assert found["mean_gap"] == pytest.approx((-5 * 10 + 5 * 30 + 15 * 30) / 70)
    assert found["share_above"] == pytest.approx(60 / 70) and found["share_below"] == pytest.approx(10 / 70)


def test_a_small_gap_still_counts_as_above_or_below() -> None:
    a, b = points((20, 80.5), (60, 89.5)), points((20, 80.0), (60, 90.0))
    found = curves.area_between(a, b, 20, 100)
    assert found["share_above"] == pytest.approx(0.5) and found["share_below"] == pytest.approx(0.5)


def test_an_empty_range_divides_by_nothing() -> None:
    """lo == hi: NaN without a 0 / 0 (numpy's floating-point errors raised here)."""
    a, b = points((20, 70.0), (60, 90.0)), points((20, 80.0), (50, 85.0))
    with np.errstate(all="raise"):
        assert all(math.isnan(v) for v in curves.area_between(a, b, 50, 50).values())
        assert math.isnan(curves.normalised_area(a, 50, 50))


def test_gaps_against_an_empty_curve_are_numeric_nan() -> None:
    """compare() negates them (the other model's view): they must be float NaN, not None."""
    baseline = points((20, 70.0), (40, 82.0))
    nothing = curves.gaps(points().reindex(columns=["cost_pct_paper", "metric"]), baseline)
    assert nothing.dtype == np.float64 and (-nothing).isna().all()
