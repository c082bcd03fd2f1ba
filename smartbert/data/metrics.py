"""GLUE metrics, offline (``evaluate``'s ``compute`` interface), in NumPy.

The paper's main metric per task (Table 1): F1 for MRPC and QQP, Matthews correlation for CoLA,
accuracy for the rest. Values are in percent, as the paper reports them. The formulas are
scikit-learn's, operation for operation (tests compare them bit for bit); importing scikit-learn
cost every replay process ~0.8 s, more than replaying a trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from smartbert.data.tasks import TaskSpec, get_task


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Share of predictions equal to the label."""
    return float(np.average(y == p))


def binary_f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 of label 1 (MRPC, QQP): 2 TP / (2 TP + FP + FN); 0 where that is 0 / 0."""
    true_positive = float(np.sum((y == 1) & (p == 1)))
    denominator = float(np.sum(y == 1)) + float(np.sum(p == 1))  # (TP + FN) + (TP + FP)
    return 0.0 if denominator == 0 else 2 * true_positive / denominator


def matthews_correlation(y: np.ndarray, p: np.ndarray) -> float:
    """Matthews correlation of any number of classes (CoLA), from the confusion matrix (Gorodkin,
    2004); 0 where a side is constant (0 / 0)."""
    labels, encoded = np.unique(np.concatenate([y, p]), return_inverse=True)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (encoded[:len(y)], encoded[len(y):]), 1)
    t_sum, p_sum = confusion.sum(axis=1, dtype=np.float64), confusion.sum(axis=0, dtype=np.float64)
    n_correct, n_samples = np.trace(confusion, dtype=np.float64), p_sum.sum()
    cov_ytyp = n_correct * n_samples - np.dot(t_sum, p_sum)
    cov_ypyp = n_samples ** 2 - np.dot(p_sum, p_sum)
    cov_ytyt = n_samples ** 2 - np.dot(t_sum, t_sum)
    if cov_ypyp * cov_ytyt == 0:
        return 0.0
    return float(cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp))


_METRICS = {"accuracy": accuracy, "f1": binary_f1, "mcc": matthews_correlation}


def compute_metrics(task: str | TaskSpec, predictions: Sequence[int] | np.ndarray, references: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Main and secondary metrics of ``task`` in percent, plus ``metric`` (= the main one)."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    y, p = np.asarray(references), np.asarray(predictions)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"need two equal-length non-empty label vectors, got {y.shape} and {p.shape}")
    names = dict.fromkeys((spec.main_metric, *spec.secondary_metrics))
    scores = {name: 100.0 * float(_METRICS[name](y, p)) for name in names}
    scores["metric"] = scores[spec.main_metric]
    return scores


def majority_class(task: str | TaskSpec, references: Sequence[int]) -> dict[str, float]:
    """The metrics of always predicting the most frequent label of ``references``: a model at or
    below this learned nothing (the paper's WNLI 56.3 is this number for every method)."""
    label = Counter(int(r) for r in references).most_common(1)[0][0]
    return compute_metrics(task, [label] * len(references), references)


class GlueMetric:
    """``evaluate.load("glue", name)`` look-alike that works offline."""

    def __init__(self, task: str) -> None:
        self.spec = get_task(task)

    def compute(self, predictions: Sequence[int], references: Sequence[int]) -> dict[str, float]:
        return {k: v / 100.0 for k, v in compute_metrics(self.spec, predictions, references).items() if k != "metric"}
