"""Deterministic subsampling and held-out splits of a training set."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def subsample(examples: Sequence[T], max_examples: int | None, seed: int) -> list[T]:
    """At most ``max_examples`` of ``examples``, chosen by ``seed``, in their original order."""
    if max_examples is None or max_examples >= len(examples):
        return list(examples)
    if max_examples <= 0:
        raise ValueError(f"max_train_examples must be positive, got {max_examples}")
    keep = sorted(random.Random(seed).sample(range(len(examples)), max_examples))
    return [examples[i] for i in keep]


def holdout(examples: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split off ``fraction`` of ``examples`` (by ``seed``) for model selection: (train, held_out)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {fraction}")
    order = list(range(len(examples)))
    random.Random(seed + 7919).shuffle(order)
    n_held = max(1, round(fraction * len(examples)))
    held = set(order[:n_held])
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])
