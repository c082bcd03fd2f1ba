"""The frozen part of a second training stage, computed once per example instead of once per epoch.

DeeBERT's off-ramps, FastBERT's students and SmartBERT's stage-2 classifiers train on top of a
frozen model: with its modules in eval mode (no dropout) the states they read are the same every
epoch, so a stage that declares them (``Stage.frozen``: a function of the model and a batch giving
:class:`FrozenInputs`) has them computed once for every training and selection example and served
from memory. The cache holds each example's states at its own length (no padding) in float32 on
the host, and re-pads them to each batch's width; what a loss reads at real tokens is what the live
pass gives, up to float rounding (padding widths differ between the cache's batches and the
epoch's). Padding positions read zero, so a loss that lets padding take part must not declare it.

Bound: ``$SMARTBERT_FROZEN_CACHE_MB`` (default 4096, ``0`` turns caching off); a split whose cache
would exceed it is computed live, as before, with a log line saying so. Full RTE for SmartBERT
(MiniLM-L6, 6 layers x 384) is about 1.5 GB.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.modeling.device import model_device, to_device

log = logging.getLogger("smartbert.train")

CACHE_ENV = "SMARTBERT_FROZEN_CACHE_MB"
DEFAULT_CACHE_MB = 4096


@dataclass
class FrozenInputs:
    """What a stage's trainable part reads from its frozen part, for one batch: ``tokens`` are
    [B, T, ...] (one row per token: hidden states), ``rows`` [B, ...] (one per example: logits)."""

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> FrozenInputs:
        return FrozenInputs({k: v.to(device) for k, v in self.tokens.items()}, {k: v.to(device) for k, v in self.rows.items()})


FrozenFn = Callable[..., FrozenInputs]  # (model, batch) -> FrozenInputs


def frozen_inputs(model: torch.nn.Module, batch: dict, compute: FrozenFn) -> FrozenInputs:
    """``compute(model, batch)`` without gradients, or the trainer's cached copy (``batch["frozen"]``)."""
    cached = batch.get("frozen")
    if cached is not None:
        return cached
    with torch.no_grad():
        return compute(model, batch)


def cache_limit_mb() -> float:
    """The cache's bound in MB from ``$SMARTBERT_FROZEN_CACHE_MB`` (a clear error when it is not a number)."""
    text = os.environ.get(CACHE_ENV, str(DEFAULT_CACHE_MB))
    try:
        value = float(text)
    except ValueError:
        raise SmartBertError(f"${CACHE_ENV} must be a number of MB (0 turns the cache off), got {text!r}") from None
    if value < 0:
        raise SmartBertError(f"${CACHE_ENV} must be >= 0 MB (0 turns the cache off), got {text!r}")
    return value


class FrozenCache:
    """Every example's :class:`FrozenInputs` of one split, unpadded, in float32 on the host."""

    def __init__(self, lengths: list[int], tokens: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> None:
        self.lengths = torch.tensor(lengths, dtype=torch.long)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.tokens, self.rows = tokens, rows  # tokens: [sum of lengths, ...]; rows: [N, ...]

    @property
    def megabytes(self) -> float:
        return sum(t.numel() * t.element_size() for t in (*self.tokens.values(), *self.rows.values())) / 2**20

    @classmethod
    def build(cls, model: torch.nn.Module, compute: FrozenFn, data: EncodedSplit, batch_size: int,
              limit_mb: float, what: str) -> FrozenCache | None:
        """The cache of ``data`` (None, with a log line, when it would exceed ``limit_mb``). The
        model's frozen modules must already be in eval mode (``trainer.freeze_to``)."""
        if limit_mb <= 0 or len(data) == 0:
            return None
        device, lengths = model_device(model), data.lengths()
        total_tokens, cache = sum(lengths), None
        with torch.no_grad():
            for batch in iterate_batches(data, batch_size, shuffle=False):
                out = compute(model, to_device(batch, device))
                if cache is None:
                    per_token = sum(t[0, 0].numel() * 4 for t in out.tokens.values())
                    per_row = sum(t[0].numel() * 4 for t in out.rows.values())
                    needed = (per_token * total_tokens + per_row * len(data)) / 2**20
                    if needed > limit_mb:
                        log.info("%s: frozen pass not cached (%.1f MB > $%s = %g MB): computed every epoch",
                                 what, needed, CACHE_ENV, limit_mb)
                        return None
                    cache = cls(lengths, {k: torch.empty(total_tokens, *t.shape[2:]) for k, t in out.tokens.items()},
                                {k: torch.empty(len(data), *t.shape[1:]) for k, t in out.rows.items()})
                index = batch["index"]
                for key, value in out.rows.items():
                    cache.rows[key][index] = value.float().cpu()
                for key, value in out.tokens.items():
                    value = value.float().cpu()
                    for row, i in enumerate(index.tolist()):
                        start = int(cache.offsets[i])
                        cache.tokens[key][start:start + lengths[i]] = value[row, :lengths[i]]
        assert cache is not None  # made at the first batch of a non-empty split
        log.info("%s: frozen pass cached once for %d examples (%.0f MB)", what, len(data), cache.megabytes)
        return cache

    def gather(self, index: torch.Tensor, width: int, device: torch.device) -> FrozenInputs:
        """The cached inputs of the examples ``index`` (dataset rows), padded with zeros to ``width``."""
        tokens = {}
        for key, flat in self.tokens.items():
            out = torch.zeros(len(index), width, *flat.shape[1:])
            for row, i in enumerate(index.tolist()):
                start, length = int(self.offsets[i]), int(self.lengths[i])
                out[row, :length] = flat[start:start + length]
            tokens[key] = out
        rows = {key: value[index] for key, value in self.rows.items()}
        return FrozenInputs(tokens, rows).to(device)
