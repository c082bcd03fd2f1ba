"""Synthetic GLUE-shaped tasks, generated deterministically from a seed.

They exist so the whole pipeline (and CI) runs without downloads, and they are built so that
early exiting has something to do: every task mixes *easy* examples (the label is signalled by
many redundant words, a shallow layer can read it) with *hard* ones (a single decisive word
among distractors and negations, which needs more depth).

- ``synthetic-sentiment`` (single sentence, 2 labels, like SST-2): the label is the sign of
  (#positive - #negative) words, where a ``not`` before a word flips it.
- ``synthetic-nli`` (sentence pair, 3 labels, like MNLI): the hypothesis repeats premise words
  (entailment), swaps one for its antonym (contradiction), or brings in unrelated words (neutral).
"""

from __future__ import annotations

import random

from smartbert.data.tasks import Example, TaskSpec

POSITIVE = ["good", "great", "fine", "happy", "nice", "best", "love", "bright", "warm", "fun"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly", "worst", "hate", "dark", "cold", "dull"]
NEUTRAL = ["the", "a", "film", "story", "day", "city", "music", "book", "car", "house", "road",
           "was", "is", "and", "with", "very", "quite", "old", "new", "long", "man", "woman"]
ANTONYM = dict(zip(POSITIVE, NEGATIVE)) | dict(zip(NEGATIVE, POSITIVE))

_SPLIT_SALT = {"train": 0, "dev": 1, "test": 2}


def _sentiment_example(rng: random.Random) -> Example:
    label = rng.randrange(2)
    own, other = (POSITIVE, NEGATIVE) if label == 1 else (NEGATIVE, POSITIVE)
    if rng.random() < 0.5:  # easy: several agreeing words, no negation
        words = rng.choices(own, k=rng.randint(3, 5)) + rng.choices(NEUTRAL, k=rng.randint(2, 6))
        rng.shuffle(words)
    else:  # hard: one decisive word, the rest cancels out or is negated
        k = rng.randint(1, 2)
        words = rng.choices(own, k=k) + rng.choices(other, k=k - 1) + rng.choices(NEUTRAL, k=rng.randint(6, 12))
        rng.shuffle(words)
        decisive = rng.choice(other)  # "not <other-polarity word>" also counts for the label
        words.insert(rng.randrange(len(words) + 1), f"not {decisive}")
        words.insert(rng.randrange(len(words) + 1), rng.choice(own))
        words = " ".join(words).split()
    return Example(" ".join(words), None, label)


def _nli_example(rng: random.Random) -> Example:
    label = rng.randrange(3)  # 0 entailment, 1 neutral, 2 contradiction
    hard = rng.random() >= 0.5
    polar = rng.choices(POSITIVE + NEGATIVE, k=rng.randint(2, 3))
    premise = polar + rng.choices(NEUTRAL, k=rng.randint(4, 10) if hard else rng.randint(2, 4))
    rng.shuffle(premise)
    if label == 0:
        hypothesis = rng.sample(polar, k=len(polar) if not hard else 1)
    elif label == 2:
        hypothesis = [ANTONYM[w] for w in polar] if not hard else [ANTONYM[polar[0]]] + polar[1:]
    else:
        unseen = [w for w in POSITIVE + NEGATIVE if w not in polar and ANTONYM[w] not in polar]
        hypothesis = rng.sample(unseen, k=len(polar) if not hard else 1) + (polar[1:] if hard else [])
    hypothesis += rng.choices(NEUTRAL, k=rng.randint(1, 3) if hard else 1)
    rng.shuffle(hypothesis)
    return Example(" ".join(premise), " ".join(hypothesis), label)


_GENERATORS = {"synthetic-sentiment": _sentiment_example, "synthetic-nli": _nli_example}


def generate(spec: TaskSpec, split: str, seed: int = 0, size: int | None = None) -> list[Example]:
    """The ``split`` of a synthetic task: same (seed, split, size) -> same examples."""
    generator = _GENERATORS[spec.name]
    rng = random.Random(f"{spec.name}/{split}/{seed}/{_SPLIT_SALT.get(split, 3)}")
    return [generator(rng) for _ in range(size if size is not None else spec.split_size(split) or 500)]
