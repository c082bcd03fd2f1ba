"""What a task's data is, checked before any training: sizes, label shares, majority class.

The workflow's first step per task. It fails early, with the fix, when data is missing or
malformed, and its majority-class metric is the row every table shows so that a model that
learned nothing is visible at a glance.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from smartbert.data.load import Source, load_split, resolve_source, source_fingerprint
from smartbert.data.metrics import majority_class
from smartbert.data.tasks import get_task


def summarise_task(task: str, source: Source = "auto", glue_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and dev sizes, dev label shares and the dev metrics of always predicting the majority label."""
    spec = get_task(task)
    kind, _ = resolve_source(spec, source, glue_dir)
    splits = {split: load_split(spec, split, source, glue_dir) for split in ("train", "dev")}
    dev_labels = [example.label for example in splits["dev"]]
    counts = Counter(dev_labels)
    return {
        "task": spec.name,
        "source": kind,
        "sizes": {split: len(examples) for split, examples in splits.items()},
        "dev_label_share": {spec.labels[label]: counts[label] / len(dev_labels) for label in sorted(counts)},
        "main_metric": spec.main_metric,
        "majority_class": majority_class(spec, dev_labels),
        "fingerprints": {split: source_fingerprint(spec, split, source, glue_dir) for split in splits},
    }
