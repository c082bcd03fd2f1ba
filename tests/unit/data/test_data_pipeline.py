"""Synthetic tasks, subsampling, held-out splits, tokenisation cache and batching."""

from __future__ import annotations

from collections import Counter

import pytest

from smartbert.data import synthetic
from smartbert.data.encode import batch_indices, collate, encode, encode_cached
from smartbert.data.load import load_split
from smartbert.data.splits import holdout, subsample
from smartbert.data.tasks import get_task


@pytest.mark.parametrize("task, num_labels, pair", [("synthetic-sentiment", 2, False), ("synthetic-nli", 3, True)])
def test_synthetic_tasks_are_deterministic_balanced_and_shaped(task: str, num_labels: int, pair: bool) -> None:
    spec = get_task(task)
    first, again = synthetic.generate(spec, "train", seed=3), synthetic.generate(spec, "train", seed=3)
    assert first == again
    assert synthetic.generate(spec, "train", seed=4) != first
    assert synthetic.generate(spec, "dev", seed=3) != first[: len(synthetic.generate(spec, "dev", seed=3))]
    counts = Counter(e.label for e in first)
    assert set(counts) == set(range(num_labels))
    assert min(counts.values()) > 0.8 * len(first) / num_labels / 1.25
    assert all((e.text_b is not None) == pair for e in first)


def test_synthetic_sentiment_has_easy_and_hard_examples() -> None:
    examples = synthetic.generate(get_task("synthetic-sentiment"), "dev")
    negated = [e for e in examples if " not " in f" {e.text_a} "]
    assert 0.3 < len(negated) / len(examples) < 0.7
    # the label is recoverable by the stated rule (positive minus negative, "not" flips)
    for example in examples:
        words, score = example.text_a.split(), 0
        for i, word in enumerate(words):
            sign = 1 if word in synthetic.POSITIVE else -1 if word in synthetic.NEGATIVE else 0
            score += -sign if i and words[i - 1] == "not" else sign
        assert (score > 0) == (example.label == 1), example


def test_subsample_is_deterministic_and_ordered() -> None:
    picked = subsample(list(range(100)), 10, seed=1)
    assert picked == subsample(list(range(100)), 10, seed=1) == sorted(picked)
    assert picked != subsample(list(range(100)), 10, seed=2)
    assert subsample(list(range(5)), None, seed=1) == list(range(5))


def test_holdout_partitions_train() -> None:
    train, held = holdout(list(range(50)), 0.2, seed=0)
    assert len(held) == 10 and sorted(train + held) == list(range(50))
    with pytest.raises(ValueError, match="heldout_fraction"):
        holdout([1, 2], 1.5, seed=0)


def test_batches_cover_every_example_once_and_group_lengths() -> None:
    lengths = [5, 50, 7, 48, 6, 49, 8, 47] * 10
    for shuffle in (False, True):
        batches = batch_indices(lengths, 8, shuffle=shuffle, seed=0)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    padded = lambda bs: sum(len(b) * max(lengths[i] for i in b) for b in bs)  # noqa: E731
    assert padded(batch_indices(lengths, 8, True, 0, group_by_length=True)) < padded(batch_indices(lengths, 8, True, 0, group_by_length=False))


def test_collate_pads_dynamically(tokenizer) -> None:
    data = encode(load_split("synthetic-nli", "dev")[:4], tokenizer)
    batch = collate(data, [0, 1, 2, 3])
    longest = max(data.lengths())
    assert batch["input_ids"].shape == (4, longest)
    assert batch["attention_mask"].sum(1).tolist() == data.lengths()
    assert batch["token_type_ids"].max() == 1  # sentence pairs carry segment ids


def test_encode_truncates_and_cache_round_trips(tokenizer, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SMARTBERT_CACHE", str(tmp_path))
    examples = load_split("synthetic-sentiment", "dev")[:20]
    assert max(encode(examples, tokenizer, max_seq_len=8).lengths()) == 8
    first = encode_cached(examples, tokenizer, 16, key="k")
    assert list((tmp_path / "tokenized").glob("*.json"))
    assert encode_cached(examples, tokenizer, 16, key="k") == first


def test_batches_pad_to_the_max_length_when_asked(sentiment_dev) -> None:
    """train.pad_to_max_len (the official codes' fixed padding): every batch is max_seq_len wide,
    padding masked; without it, each batch is as wide as its longest example."""
    from smartbert.data.encode import iterate_batches

    longest = max(sentiment_dev.lengths()[:8])
    assert collate(sentiment_dev, list(range(8)))["input_ids"].shape[1] == longest
    fixed = collate(sentiment_dev, list(range(8)), pad_to=128)
    assert fixed["input_ids"].shape == (8, 128) and fixed["attention_mask"].sum(1).tolist() == sentiment_dev.lengths()[:8]
    assert {b["input_ids"].shape[1] for b in iterate_batches(sentiment_dev, 16, shuffle=True, pad_to=128)} == {128}


def test_batch_widths_round_up_to_the_bucket(sentiment_dev) -> None:
    """train.pad_to_multiple_of: a batch is as wide as its longest example rounded up to the bucket
    (the extra columns padding, masked), so torch.compile meets a few repeated shapes."""
    from smartbert.data.encode import iterate_batches

    for indices in ([0, 1, 2], list(range(8))):
        longest = max(sentiment_dev.lengths()[i] for i in indices)
        batch = collate(sentiment_dev, indices, multiple_of=16)
        assert batch["input_ids"].shape[1] == 16 * -(-longest // 16)
        assert batch["attention_mask"].sum(1).tolist() == [sentiment_dev.lengths()[i] for i in indices]
    assert collate(sentiment_dev, [0], pad_to=20, multiple_of=8)["input_ids"].shape[1] == 24
    widths = {b["input_ids"].shape[1] for b in iterate_batches(sentiment_dev, 16, shuffle=True, multiple_of=16)}
    assert widths and all(w % 16 == 0 for w in widths)
