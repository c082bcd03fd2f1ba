"""GLUE metrics, offline (scikit-learn underneath; ``evaluate``'s ``compute`` interface).

The paper's main metric per task (Table 1): F1 for MRPC and QQP, Matthews correlation for CoLA,
accuracy for the rest. Values are in percent, as the paper reports them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from smartbert.data.tasks import TaskSpec, get_task

_METRICS = {
    "accuracy": lambda y, p: accuracy_score(y, p),
    "f1": lambda y, p: f1_score(y, p, pos_label=1, average="binary", zero_division=0.0),
    "mcc": lambda y, p: matthews_corrcoef(y, p) if len(set(y)) > 1 or len(set(p)) > 1 else 0.0,
}


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
