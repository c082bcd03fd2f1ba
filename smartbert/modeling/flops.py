"""Each component's FLOPs for a backbone shape, counted once (:mod:`smartbert.modeling.flops_count`)
and cached under ``$SMARTBERT_CACHE/flops/``: what replay costs a trace with."""

from __future__ import annotations

import json
from functools import lru_cache

from smartbert.core.io import atomic_write_text, cache_root
from smartbert.replay.cost import BackboneShape, ComponentCosts
from smartbert.replay.trace import TraceMeta


@lru_cache(maxsize=32)
def component_costs(shape: BackboneShape, seq_len: int = 128, num_labels: int = 2) -> ComponentCosts:
    """Every component of ``shape`` at ``seq_len`` tokens, batch 1, counted once by fvcore
    and then read from ``$SMARTBERT_CACHE/flops/``. Replay receives the result and needs neither torch
    nor transformers."""
    if seq_len < 1:
        raise ValueError(f"sequence length must be positive, got {seq_len}")
    key = "-".join(str(v) for v in (*shape.as_dict().values(), seq_len, num_labels))
    cache = cache_root() / "flops" / f"v1-{key}.json"
    if cache.is_file():
        counts = json.loads(cache.read_text())
    else:  # counting needs torch and fvcore; a cached count does not (sweeps, oracles on a login node)
        from smartbert.modeling.flops_count import count_components

        counts = count_components(shape, seq_len, num_labels)
        atomic_write_text(cache, json.dumps(counts))
    return ComponentCosts(shape, seq_len, num_labels, counts["paper"], counts["fvcore"])


def trace_costs(meta: TraceMeta, seq_len: int | None = None) -> ComponentCosts:
    """Component FLOPs for a trace's backbone at ``seq_len`` (default: the model's max length,
    128 as in the paper: inputs are counted as padded to the max length)."""
    shape = BackboneShape(**meta.shape)
    return component_costs(shape, int(seq_len or meta.max_seq_len), int(meta.num_labels))
