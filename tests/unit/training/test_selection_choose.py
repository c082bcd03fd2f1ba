"""``selection.choose`` at its edges (issue 31, item 4: tests that kill mutmut's survivors): which
points are eligible (collapse, tolerance at its boundary), the order that picks the winner (fewest
layers run, then metric, then grid order) and the models without gates (best metric)."""

from __future__ import annotations

import pandas as pd

from smartbert.training.choice import choose


def grid(*rows: tuple[float, float, float | None, bool | None]) -> pd.DataFrame:
    """(lam, held-out metric, mean layers run or None without gates, collapsed or None) per point."""
    records = []
    for lam, metric, layers, collapsed in rows:
        record: dict[str, float | bool] = {"lam": lam, "heldout_metric": metric}
        if layers is not None:
            record["mean_layers_run"] = layers
        if collapsed is not None:
            record["collapsed"] = collapsed
        records.append(record)
    return pd.DataFrame(records)


def picked(table: pd.DataFrame, tolerance: float = 1.0) -> list[float]:
    marked = choose(table, tolerance)
    return marked.loc[marked["selected"], "lam"].tolist()


def test_exactly_one_point_is_selected_and_the_input_is_left_alone() -> None:
    table = grid((0.01, 80.0, 5.0, False), (0.1, 79.5, 3.0, False))
    before = table.copy()
    marked = choose(table, 1.0)
    assert marked["selected"].tolist() == [False, True]
    assert marked["within_tolerance"].tolist() == [True, True]
    pd.testing.assert_frame_equal(table, before)


def test_a_point_exactly_tolerance_below_the_best_is_eligible() -> None:
    table = grid((0.01, 80.0, 5.0, False), (0.1, 79.0, 3.0, False), (0.2, 78.99, 1.0, False))
    assert picked(table, 1.0) == [0.1]
    assert choose(table, 1.0)["within_tolerance"].tolist() == [True, True, False]
    assert picked(table, 0.0) == [0.01]
    # 50.1 - 0.3 is 49.800000000000004 in floating point: 49.8 is still within 0.3 points
    rounded = grid((0.01, 50.1, 5.0, False), (0.1, 49.8, 3.0, False))
    assert picked(rounded, 0.3) == [0.1]


def test_the_best_metric_is_taken_among_usable_points_only() -> None:
    """A collapsed point's higher metric does not raise the bar: the tolerance is measured from the
    best non-collapsed point (85), so 84.2 is within 1 point and, running fewer layers, wins."""
    table = grid((0.01, 90.0, 0.5, True), (0.05, 85.0, 5.0, False), (0.1, 84.2, 4.0, False))
    assert picked(table) == [0.1]
    assert choose(table)["within_tolerance"].tolist() == [False, True, True]


def test_without_a_collapsed_column_every_point_is_usable() -> None:
    table = grid((0.01, 85.0, 5.0, None), (0.1, 84.5, 2.0, None))
    assert picked(table) == [0.1]
    assert choose(table)["within_tolerance"].tolist() == [True, True]


def test_fewer_layers_then_higher_metric_then_grid_order() -> None:
    same_layers = grid((0.01, 84.5, 3.0, False), (0.05, 85.0, 3.0, False), (0.1, 84.8, 4.0, False))
    assert picked(same_layers) == [0.05]
    tie = grid((0.01, 84.0, 5.0, False), (0.05, 85.0, 3.0, False), (0.1, 85.0, 3.0, False))
    assert picked(tie) == [0.05]  # same layers and metric: the first in grid order


def test_without_gates_the_best_metric_wins_first_in_grid_order() -> None:
    table = grid((0.01, 84.0, None, None), (0.05, 85.0, None, None), (0.1, 85.0, None, None), (0.2, 84.9, None, None))
    assert picked(table, 1.0) == [0.05]
    assert choose(table, 1.0)["within_tolerance"].tolist() == [True, True, True, True]
    assert choose(table, 0.05)["within_tolerance"].tolist() == [False, True, True, False]


def test_the_default_tolerance_is_one_metric_point() -> None:
    table = grid((0.01, 86.0, 6.0, False), (0.1, 84.5, 2.0, False))  # 1.5 below the best
    assert picked(table) == [0.01]
    assert choose(table)["within_tolerance"].tolist() == [True, False]
