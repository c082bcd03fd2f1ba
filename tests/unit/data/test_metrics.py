"""GLUE metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartbert.data.metrics import GlueMetric, compute_metrics, majority_class


def test_accuracy_f1_mcc_by_hand() -> None:
    labels = [1, 1, 1, 0, 0, 0]
    preds = [1, 1, 0, 1, 0, 0]
    # tp=2, fp=1, fn=1, tn=2: acc 4/6, precision = recall = 2/3 -> F1 2/3; MCC = (4-1)/sqrt(3*3*3*3) = 1/3
    mrpc = compute_metrics("MRPC", preds, labels)
    assert mrpc["f1"] == pytest.approx(200 / 3) and mrpc["accuracy"] == pytest.approx(200 / 3)
    assert mrpc["metric"] == mrpc["f1"]
    cola = compute_metrics("CoLA", preds, labels)
    assert cola["mcc"] == pytest.approx(100 / 3) and cola["metric"] == cola["mcc"]
    assert compute_metrics("RTE", preds, labels) == {"accuracy": pytest.approx(200 / 3), "metric": pytest.approx(200 / 3)}


def test_constant_predictions_give_zero_mcc_not_nan() -> None:
    assert compute_metrics("CoLA", [1, 1, 1], [1, 0, 1])["mcc"] == 0.0


def test_majority_class() -> None:
    assert majority_class("RTE", [0, 1, 1, 1])["accuracy"] == 75.0
    assert majority_class("MRPC", [1, 1, 0, 0, 1])["f1"] == pytest.approx(100 * 2 * 0.6 / 1.6)


def test_evaluate_style_interface_and_bad_input() -> None:
    assert GlueMetric("mrpc").compute(predictions=[1, 0], references=[1, 1]) == {"f1": pytest.approx(2 / 3), "accuracy": 0.5}
    with pytest.raises(ValueError, match="equal-length"):
        compute_metrics("RTE", [1], [1, 0])
    assert not math.isnan(compute_metrics("SST-2", [0], [0])["accuracy"])


@pytest.mark.parametrize("classes", [2, 3])
def test_the_numpy_metrics_equal_scikit_learn_bit_for_bit(classes: int) -> None:
    """Same formulas as scikit-learn's, so published metrics do not move by a last bit."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    from smartbert.data.metrics import accuracy, binary_f1, matthews_correlation

    rng = np.random.default_rng(classes)
    for trial in range(300):
        n = int(rng.integers(1, 60))
        y = rng.integers(0, classes, n)
        p = y.copy() if trial % 7 == 0 else rng.integers(0, classes, n)
        if trial % 11 == 0:
            p[:] = p[0]  # a constant side
        assert accuracy(y, p) == accuracy_score(y, p)
        assert matthews_correlation(y, p) == matthews_corrcoef(y, p)
        if classes == 2:
            assert binary_f1(y, p) == f1_score(y, p, pos_label=1, average="binary", zero_division=0.0)
