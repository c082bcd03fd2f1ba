"""Tokenisation (cached on disk), dynamic padding and length-grouped batches."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from smartbert.core.io import atomic_write_bytes, cache_root
from smartbert.data.tasks import Example

MAX_SEQ_LEN = 128  # the paper's max input length (section 4.3)


@dataclass
class EncodedSplit:
    """Token ids of every example (no padding) and their labels."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def subset(self, indices: Sequence[int]) -> EncodedSplit:
        return EncodedSplit(
            [self.input_ids[i] for i in indices],
            [self.token_type_ids[i] for i in indices],
            [self.labels[i] for i in indices],
        )


def cache_dir() -> Path:
    """Where tokenised data is cached: ``$SMARTBERT_CACHE`` or ``~/.cache/smartbert``."""
    return cache_root() / "tokenized"


def tokenizer_fingerprint(tokenizer) -> str:
    """Changes whenever the tokenizer would split text differently."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    payload = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def encode(examples: Sequence[Example], tokenizer, max_seq_len: int = MAX_SEQ_LEN) -> EncodedSplit:
    """Tokenise (pairs as ``[CLS] a [SEP] b [SEP]``), truncating to ``max_seq_len`` tokens."""
    if not examples:
        return EncodedSplit([], [], [])
    text_a = [e.text_a for e in examples]
    text_b = [e.text_b for e in examples] if examples[0].text_b is not None else None
    out = tokenizer(text_a, text_b, truncation=True, max_length=max_seq_len, padding=False,
                    return_token_type_ids=True)
    return EncodedSplit(out["input_ids"], out["token_type_ids"], [e.label for e in examples])


def encode_cached(examples: Sequence[Example], tokenizer, max_seq_len: int, key: str) -> EncodedSplit:
    """:func:`encode`, cached under a key built from ``key`` (the data's fingerprint), the
    tokenizer and the length. The cache file is written atomically."""
    digest = hashlib.sha1(f"{key}|{tokenizer_fingerprint(tokenizer)}|{max_seq_len}|{len(examples)}".encode()).hexdigest()
    path = cache_dir() / f"{digest}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            return EncodedSplit(cached["input_ids"], cached["token_type_ids"], cached["labels"])
        except (json.JSONDecodeError, KeyError):
            path.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    encoded = encode(examples, tokenizer, max_seq_len)
    try:
        atomic_write_bytes(path, json.dumps(encoded.__dict__).encode())
    except OSError:
        pass  # a read-only cache only costs time
    return encoded


def batch_indices(
    lengths: Sequence[int],
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    group_by_length: bool = True,
    pool_factor: int = 50,
) -> list[list[int]]:
    """Batches of example indices.

    Evaluation (``shuffle=False``): sorted by length, so padding is minimal. Training: shuffled,
    then sorted by length inside pools of ``pool_factor`` batches and the batches shuffled again
    (length-grouped sampling), so batches stay random but padding stays small.
    """
    if batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    order = list(range(len(lengths)))
    if not shuffle:
        if group_by_length:
            order.sort(key=lambda i: (lengths[i], i))
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    if group_by_length:
        pool = batch_size * pool_factor
        order = [i for start in range(0, len(order), pool)
                 for i in sorted(order[start : start + pool], key=lambda j: lengths[j])]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(data: EncodedSplit, indices: Sequence[int], pad_id: int = 0, pad_to: int | None = None,
            multiple_of: int = 1) -> dict[str, torch.Tensor]:
    """Pad the examples at ``indices`` to their longest (dynamic padding), or to ``pad_to`` tokens
    (the official codes' fixed padding to the max length); the width rounded up to a multiple of
    ``multiple_of`` (repeated shapes for torch.compile)."""
    width = max(max(len(data.input_ids[i]) for i in indices), pad_to or 0)
    width = -(-width // multiple_of) * multiple_of
    input_ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((len(indices), width), dtype=torch.long)
    attention_mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        input_ids[row, :n] = torch.tensor(data.input_ids[i])
        token_type_ids[row, :n] = torch.tensor(data.token_type_ids[i])
        attention_mask[row, :n] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "labels": torch.tensor([data.labels[i] for i in indices], dtype=torch.long),
        "index": torch.tensor(list(indices), dtype=torch.long),
    }


def iterate_batches(data: EncodedSplit, batch_size: int, shuffle: bool = False, seed: int = 0,
                    group_by_length: bool = True, pad_id: int = 0, pad_to: int | None = None,
                    multiple_of: int = 1) -> Iterator[dict[str, torch.Tensor]]:
    """Padded batches over ``data`` (see :func:`batch_indices`; ``pad_to``, ``multiple_of``: :func:`collate`)."""
    for indices in batch_indices(data.lengths(), batch_size, shuffle, seed, group_by_length):
        yield collate(data, indices, pad_id, pad_to, multiple_of)
