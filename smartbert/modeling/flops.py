"""FLOPs counting: fvcore counts of each component, cached per shape (:class:`smartbert.replay.cost.ComponentCosts`).

fvcore skips ``aten::scaled_dot_product_attention``; the handler below counts its two matmuls.
"""

from __future__ import annotations

from math import prod
from typing import Any

import json
from functools import lru_cache

import torch
from torch import nn

from smartbert.core.io import atomic_write_text, cache_root
from smartbert.modeling.backbones import bert_config
from smartbert.replay.cost import BackboneShape, ComponentCosts
from smartbert.replay.trace import TraceMeta
from smartbert.modeling.heads import ExitClassifier, PooledClassifier, SkipGate


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """MACs of scaled-dot-product attention: Q K^T and (softmax) V, i.e. 2 s^2 h per layer."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    *batch, s_q, d = q
    s_k, d_v = k[-2], v[-1]
    return prod(batch) * s_q * s_k * (d + d_v)


class _OnCls(nn.Module):
    """Apply a module to the [CLS] position only (BERT's pooler)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.module(hidden[:, 0])


class _NoMask(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.module(hidden, None)
        return out[0] if isinstance(out, tuple) else out


def count_macs(module: nn.Module, inputs: tuple) -> dict[str, int]:
    """fvcore's MACs of ``module(*inputs)`` by operator (``scaled_dot_product_attention`` counted)."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module.eval(), inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return dict(analysis.by_operator())


def count_components(shape: BackboneShape, seq_len: int, num_labels: int) -> dict[str, dict[str, float]]:
    """{"paper": {...}, "fvcore": {...}}: each component at batch 1 (random weights)."""
    from transformers.models.bert.modeling_bert import BertEmbeddings, BertLayer

    config = bert_config(shape)
    hidden = torch.zeros(1, seq_len, shape.hidden)
    modules: dict[str, tuple[nn.Module, tuple]] = {
        "embeddings": (BertEmbeddings(config), (torch.zeros(1, seq_len, dtype=torch.long),)),
        "layer": (_NoMask(BertLayer(config)), (hidden,)),
        "pooler": (_OnCls(nn.Linear(shape.hidden, shape.hidden)), (hidden,)),
        "pooled_classifier": (PooledClassifier(shape.hidden, num_labels), (hidden,)),
        "exit_classifier": (_NoMask(ExitClassifier(shape.hidden, num_labels)), (hidden,)),
        "skip_gate": (_NoMask(SkipGate(shape.hidden)), (hidden,)),
    }
    paper, fvcore = {}, {}
    with torch.no_grad():
        for name, (module, inputs) in modules.items():
            by_op = count_macs(module, inputs)
            fvcore[name] = float(sum(by_op.values()))
            paper[name] = 2.0 * by_op.get("linear", 0) + 2.0 * by_op.get("addmm", 0)
    return {"paper": paper, "fvcore": fvcore}


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
    else:
        counts = count_components(shape, seq_len, num_labels)
        atomic_write_text(cache, json.dumps(counts))
    return ComponentCosts(shape, seq_len, num_labels, counts["paper"], counts["fvcore"])


def trace_costs(meta: TraceMeta, seq_len: int | None = None) -> ComponentCosts:
    """Component FLOPs for a trace's backbone at ``seq_len`` (default: the model's max length,
    128 as in the paper: inputs are counted as padded to the max length)."""
    shape = BackboneShape(**meta.shape)
    return component_costs(shape, int(seq_len or meta.max_seq_len), int(meta.num_labels))
