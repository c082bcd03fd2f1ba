"""The frozen part of a second training stage, computed once per example instead of once per epoch.

DeeBERT's off-ramps, FastBERT's students and SmartBERT's stage-2 classifiers train on top of a
frozen model: with its modules in eval mode (no dropout) the states they read are the same every
epoch, so a stage that declares them (``Stage.frozen``: a function of the model and a batch giving
:class:`FrozenInputs`) has them computed once for every training and selection example and served
from host memory. The cache holds each example's states at its own length (no padding), in the
dtype the frozen pass gives (float32 unless it ran under autocast: what the live pass gives, so
results do not change), and re-pads them to each batch's width; what a loss reads at real tokens
is what the live pass gives, up to float rounding (padding widths differ between the cache's
batches and the epoch's). Padding positions read zero, so a loss that lets padding take part must
not declare it.

Where and what it costs: up to L x H x 4 bytes per token, every layer's state (BERT-base ~37 KB,
MiniLM-L6 9 KB), up to ``$SMARTBERT_FROZEN_CACHE_MB`` per split (training and selection), in host
memory (``ClusterCost.train_mem_mb`` counts it when on). Each step gathers its batch's rows with one
indexing op and copies them to the device (from pinned memory, without waiting, on CUDA): bytes
over PCIe instead of a forward pass of the frozen model.

Default: on the CPU, 4096 MB (the frozen pass is most of a stage-2 step there; measured in
benchmarks/frozen_cache.py); on a GPU, 0, the frozen pass computed every step (a batch's cached
states are ~150 MB for BERT-base at 32 x 128 tokens, more to copy than the forward costs on a
recent GPU: an estimate, not measured). ``$SMARTBERT_FROZEN_CACHE_MB`` sets it anywhere (``0``
turns it off); a split whose cache would exceed it is computed live, with a log line saying so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.modeling.device import model_device, to_device

log = logging.getLogger("smartbert.train")

CACHE_ENV = "SMARTBERT_FROZEN_CACHE_MB"
DEFAULT_CACHE_MB = 4096  # on the CPU; on a GPU the default is 0 (default_cache_mb)


@dataclass
class FrozenInputs:
    """What a stage's trainable part reads from its frozen part, for one batch: ``tokens`` are
    [B, T, ...] (one row per token: hidden states), ``rows`` [B, ...] (one per example: logits)."""

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    rows: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> FrozenInputs:
        """On ``device``; from pinned host memory a CUDA copy does not wait (the next kernels queue behind it)."""
        non_blocking = device.type == "cuda"
        return FrozenInputs({k: v.to(device, non_blocking=non_blocking) for k, v in self.tokens.items()},
                            {k: v.to(device, non_blocking=non_blocking) for k, v in self.rows.items()})


FrozenFn = Callable[..., FrozenInputs]  # (model, batch) -> FrozenInputs


def frozen_inputs(model: torch.nn.Module, batch: dict, compute: FrozenFn) -> FrozenInputs:
    """``compute(model, batch)`` without gradients, or the trainer's cached copy (``batch["frozen"]``)."""
    cached = batch.get("frozen")
    if cached is not None:
        return cached
    with torch.no_grad():
        return compute(model, batch)


def cache_limit_mb(environ: Mapping[str, str] | None = None) -> float | None:
    """The cache's bound in MB from ``$SMARTBERT_FROZEN_CACHE_MB`` (of ``environ``, default this
    process's; a clear error when it is not a number); None when unset: the device's default
    (:func:`default_cache_mb`)."""
    text = (os.environ if environ is None else environ).get(CACHE_ENV)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SmartBertError(f"${CACHE_ENV} must be a number of MB (0 turns the cache off), got {text!r}") from None
    if not value >= 0:
        raise SmartBertError(f"${CACHE_ENV} must be >= 0 MB (0 turns the cache off), got {text!r}")
    return value


def default_cache_mb(device: torch.device) -> float:
    """The bound where ``$SMARTBERT_FROZEN_CACHE_MB`` is unset: DEFAULT_CACHE_MB on the CPU, 0 (recompute) on a GPU."""
    return DEFAULT_CACHE_MB if device.type == "cpu" else 0.0


def _host_buffer(shape: tuple[int, ...], dtype: torch.dtype, pinned: bool) -> torch.Tensor:
    """Uninitialised host memory for one batch, page-locked where it goes to a CUDA device next."""
    return torch.empty(shape, dtype=dtype, pin_memory=pinned)


class FrozenCache:
    """Every example's :class:`FrozenInputs` of one split, unpadded, on the host."""

    def __init__(self, lengths: list[int], tokens: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> None:
        """``tokens``: [sum of lengths + 1, ...] each, every example's tokens in turn and one row that
        padding reads (zeroed here); ``rows``: [N, ...]."""
        self.lengths = torch.tensor(lengths, dtype=torch.long)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.padding_row = sum(lengths)
        for key, storage in tokens.items():
            if len(storage) != self.padding_row + 1:
                raise ValueError(f"{key}: {len(storage)} token rows for {self.padding_row} tokens + 1 padding row")
            storage[-1] = 0
        self.tokens, self.rows = tokens, rows

    @property
    def megabytes(self) -> float:
        return sum(t.numel() * t.element_size() for t in (*self.tokens.values(), *self.rows.values())) / 2**20

    @classmethod
    def build(cls, model: torch.nn.Module, compute: FrozenFn, data: EncodedSplit, batch_size: int,
              limit_mb: float | None, what: str) -> FrozenCache | None:
        """The cache of ``data`` (None, with a log line, when it would exceed ``limit_mb``; None: the
        device's default). The model's frozen modules must already be in eval mode (``trainer.freeze_to``)."""
        device = model_device(model)
        if limit_mb is None:
            limit_mb = default_cache_mb(device)
            if limit_mb <= 0:
                log.info("%s: frozen pass computed every step on %s (the default there; $%s=MB caches it)",
                         what, device, CACHE_ENV)
        if limit_mb <= 0 or len(data) == 0:
            return None
        cache = None
        with torch.no_grad():
            for batch in iterate_batches(data, batch_size, shuffle=False):
                out = compute(model, to_device(batch, device))
                if cache is None:
                    cache = cls.allocate(out, data.lengths(), limit_mb, what)
                    if cache is None:
                        return None
                cache.store(batch["index"], out)
        assert cache is not None  # made at the first batch of a non-empty split
        log.info("%s: frozen pass cached once for %d examples (%.0f MB)", what, len(data), cache.megabytes)
        return cache

    @classmethod
    def allocate(cls, first: FrozenInputs, lengths: list[int], limit_mb: float, what: str) -> FrozenCache | None:
        """An empty cache shaped after the first batch's outputs, or None when it would exceed ``limit_mb``."""
        total_tokens = sum(lengths)
        per_token = sum(t[0, 0].numel() * t.element_size() for t in first.tokens.values())
        per_row = sum(t[0].numel() * t.element_size() for t in first.rows.values())
        needed = (per_token * total_tokens + per_row * len(lengths)) / 2**20
        if needed > limit_mb:
            log.info("%s: frozen pass not cached (%.1f MB > $%s = %g MB): computed every epoch", what, needed, CACHE_ENV, limit_mb)
            return None
        return cls(lengths, {k: torch.empty(total_tokens + 1, *t.shape[2:], dtype=t.dtype) for k, t in first.tokens.items()},
                   {k: torch.empty(len(lengths), *t.shape[1:], dtype=t.dtype) for k, t in first.rows.items()})

    def store(self, index: torch.Tensor, out: FrozenInputs) -> None:
        """One batch's outputs (rows ``index`` of the split) into the cache: real tokens only."""
        for key, value in out.rows.items():
            self.rows[key][index] = value.cpu()
        for key, value in out.tokens.items():
            value = value.cpu()
            rows = self._token_rows(index, value.shape[1])
            real = rows != self.padding_row
            self.tokens[key][rows[real]] = value[real]

    def gather(self, index: torch.Tensor, width: int, device: torch.device) -> FrozenInputs:
        """The cached inputs of the examples ``index`` (dataset rows), padded with zeros to ``width``:
        one indexing op per input, into pinned memory when the batch goes to a GPU."""
        pinned = device.type == "cuda"
        rows = self._token_rows(index, width).reshape(-1)
        tokens = {}
        for key, cached in self.tokens.items():
            out = _host_buffer((len(rows), *cached.shape[1:]), cached.dtype, pinned)
            tokens[key] = torch.index_select(cached, 0, rows, out=out).view(len(index), width, *cached.shape[1:])
        examples = {}
        for key, cached in self.rows.items():
            out = _host_buffer((len(index), *cached.shape[1:]), cached.dtype, pinned)
            examples[key] = torch.index_select(cached, 0, index, out=out)
        return FrozenInputs(tokens, examples).to(device)

    def _token_rows(self, index: torch.Tensor, width: int) -> torch.Tensor:
        """[B, width]: the storage row of each token of the examples ``index``; the zero row at padding."""
        columns = torch.arange(width)
        real = columns < self.lengths[index].unsqueeze(1)
        return torch.where(real, self.offsets[index].unsqueeze(1) + columns, self.padding_row)
