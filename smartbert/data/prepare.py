"""A task split ready for a model: where its data comes from, loaded and tokenised (cached)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartbert.data.encode import EncodedSplit, encode_cached
from smartbert.data.load import Source, load_split, source_fingerprint
from smartbert.data.tasks import TaskSpec


@dataclass
class DataOptions:
    """Where task data comes from (``source`` auto: GLUE_DIR if set, else the hub)."""

    source: Source = "auto"
    glue_dir: str | None = None


def load_encoded(spec: TaskSpec, split: str, tokenizer: Any, max_seq_len: int, data: DataOptions) -> EncodedSplit:
    """A split, tokenised (cached on disk by data fingerprint and tokenizer)."""
    examples = load_split(spec, split, data.source, data.glue_dir)
    key = source_fingerprint(spec, split, data.source, data.glue_dir)
    return encode_cached(examples, tokenizer, max_seq_len, key)
