"""What the trade-off figures draw (not only that a PNG and a PDF are written): per task panel, each
curve's points in cost order, static methods as single points, the +-1 std band with several seeds,
the majority-class line, one legend entry per series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smartbert.reporting.figures import Series, guaranteed_figure, table1_series, tradeoff_figure
from smartbert.reporting.methods import MethodCatalogue, MethodInfo


def rows(task: str, method: str, costs: list[float], metrics: list[float], n_seeds: int = 1, std: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"task": task, "method": method, "variant": "default", "cost_pct_paper": costs, "metric": metrics,
                         "n_seeds": n_seeds, "metric_std": std})


@pytest.fixture
def figure():
    import matplotlib.pyplot as plt

    agg = pd.concat([rows("RTE", "smartbert", [60.0, 30.0, 45.0], [70.0, 60.0, 66.0], n_seeds=3, std=1.5),
                     rows("RTE", "bert", [100.0], [71.0]),
                     rows("SST-2", "smartbert", [50.0, 20.0], [90.0, 80.0]),
                     rows("SST-2", "bert", [100.0], [92.0])], ignore_index=True)
    series = [Series("bert", "default", "BERT", point=True), Series("smartbert", "default", "SmartBERT")]
    majority = {"RTE": {"majority_class": {"metric": 52.7}, "main_metric": "accuracy"}}
    drawn = tradeoff_figure(agg, ["RTE", "SST-2"], series, majority, "Figure 4")
    yield drawn
    plt.close(drawn)


def test_each_panel_draws_its_tasks_series(figure) -> None:
    rte, sst2 = figure.axes[:2]
    assert (rte.get_title(), sst2.get_title()) == ("RTE", "SST-2")
    curve = [line for line in rte.get_lines() if line.get_label() == "SmartBERT"][0]
    assert curve.get_xdata().tolist() == [30.0, 45.0, 60.0] and curve.get_ydata().tolist() == [60.0, 66.0, 70.0]
    point = [c for c in rte.collections if c.get_label() == "BERT"][0]
    assert point.get_offsets().tolist() == [[100.0, 71.0]]
    band = [c for c in rte.collections if c.get_label() != "BERT"]
    assert len(band) == 1  # three seeds: a +-1 std band around the curve
    ys = np.concatenate([path.vertices[:, 1] for path in band[0].get_paths()])
    assert ys.min() == pytest.approx(60.0 - 1.5) and ys.max() == pytest.approx(70.0 + 1.5)
    majority = [line for line in rte.get_lines() if line.get_label() == "majority class"][0]
    assert list(majority.get_ydata()) == [52.7, 52.7]
    sst2_curve = [line for line in sst2.get_lines() if line.get_label() == "SmartBERT"][0]
    assert sst2_curve.get_xdata().tolist() == [20.0, 50.0]
    assert not [c for c in sst2.collections if c.get_label() != "BERT"]  # one seed: no band
    assert not [line for line in sst2.get_lines() if line.get_label() == "majority class"]
    assert rte.get_ylabel() == "Accuracy"


def test_one_legend_entry_per_series(figure) -> None:
    legend = figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == ["BERT", "SmartBERT", "majority class"]


def test_table1_series_puts_static_methods_first_as_points() -> None:
    catalogue = MethodCatalogue([MethodInfo("smartbert", "SmartBERT", "entropy"), MethodInfo("bert", "BERT", "none"),
                                 MethodInfo("pabee", "PABEE", "patience")])
    series = table1_series(["smartbert", "pabee", "bert"], catalogue=catalogue)
    assert [(s.method, s.label, s.point) for s in series] == [("bert", "BERT", True), ("pabee", "PABEE", False),
                                                              ("smartbert", "SmartBERT", False)]


def test_the_guaranteed_cost_figure_draws_cost_against_eps_per_method_and_procedure() -> None:
    import matplotlib.pyplot as plt

    def calibrated(method: str, seed: int, costs: list[float]) -> pd.DataFrame:
        return pd.DataFrame([{"task": "SST-2", "method": method, "label": method.upper(), "procedure": p, "epsilon": e,
                              "trial_cost_pct_mean": c + (5 if p == "crc" else 0), "seed": seed}
                             for p in ("ltt", "crc", "empirical") for e, c in zip((0.02, 0.01), costs)])

    frame = pd.concat([calibrated("smartbert", 1, [40.0, 60.0]), calibrated("smartbert", 2, [50.0, 70.0]),
                       calibrated("deebert", 1, [80.0, 90.0])], ignore_index=True)
    catalogue = MethodCatalogue([MethodInfo("deebert", "DeeBERT", "entropy"), MethodInfo("smartbert", "SmartBERT", "entropy")])
    drawn = guaranteed_figure(frame, ["SST-2", "RTE"], catalogue=catalogue)
    lines = {line.get_label(): line for line in drawn.axes[0].get_lines()}
    assert sorted(lines) == ["DEEBERT (crc)", "DEEBERT (ltt)", "SMARTBERT (crc)", "SMARTBERT (ltt)"]  # no empirical
    ltt = lines["SMARTBERT (ltt)"]
    assert ltt.get_xdata().tolist() == [1.0, 2.0] and ltt.get_ydata().tolist() == [65.0, 45.0]  # seeds averaged
    assert lines["SMARTBERT (crc)"].get_linestyle() == "--" and lines["SMARTBERT (crc)"].get_ydata().tolist() == [70.0, 50.0]
    assert len([axis for axis in drawn.axes if axis.get_visible() and axis.get_title()]) == 1  # RTE has nothing to draw
    assert drawn.axes[0].get_xlabel() == "risk level eps (points of disagreement)"
    plt.close(drawn)
    harm = guaranteed_figure(frame.assign(loss="harm"), ["SST-2"], catalogue=catalogue)
    assert harm.axes[0].get_xlabel() == "risk level eps (points of harm)"  # the loss it was calibrated on
    plt.close(harm)
