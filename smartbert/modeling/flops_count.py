"""fvcore counts of each component of a backbone shape (what :func:`smartbert.modeling.flops.component_costs` caches).

fvcore skips ``aten::scaled_dot_product_attention``; the handler below counts its two matmuls.
"""

from __future__ import annotations

from math import prod
from typing import Any

import torch
from torch import nn

from smartbert.modeling.backbones import bert_config
from smartbert.modeling.heads import ExitClassifier, PooledClassifier, SkipGate
from smartbert.replay.cost import BackboneShape


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
    """Fvcore's MACs of ``module(*inputs)`` by operator (``scaled_dot_product_attention`` counted)."""
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
