"""A figure saved twice is the same bytes, PDF included (no creation date): republishing a run
changes a committed figure only where its numbers change."""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from smartbert.reporting.figures import save_figure  # noqa: E402


def drawn() -> plt.Figure:
    figure, axis = plt.subplots()
    axis.plot([0.3, 0.5, 1.0], [80.0, 84.5, 85.0], marker="o", label="SmartBERT")
    axis.legend()
    return figure


def test_the_same_figure_saved_twice_is_the_same_bytes(tmp_path) -> None:
    first = save_figure(drawn(), tmp_path / "a" / "figure")
    time.sleep(1.1)  # a creation date would now differ by a second
    second = save_figure(drawn(), tmp_path / "b" / "figure")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name
    assert b"CreationDate" not in first[1].read_bytes()
