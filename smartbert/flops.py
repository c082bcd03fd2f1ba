"""FLOPs of each component (embeddings, one encoder layer, pooler, heads, gate), two conventions.

- ``fvcore``: multiply-accumulates as fvcore counts them (linear layers, the attention matmuls
  through a handler for ``aten::scaled_dot_product_attention`` that fvcore lacks, layer norms),
  at batch 1 and the given sequence length.
- ``paper``: 2 x the MACs of linear layers only, the convention that reproduces the paper's
  Table 2 (1811.8M per BERT-base layer at length 128) and Table 1 (21744M per model).

A model's cost per example = embeddings + the sum, over the components it evaluated, of their
cost; cost % is relative to the same backbone's plain forward (all layers + BERT's classifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Any

import torch
from torch import nn

from smartbert.backbones import BackboneShape
from smartbert.heads import ExitClassifier, PooledClassifier, SkipGate

CONVENTIONS = ("paper", "fvcore")
COMPONENTS = ("embeddings", "layer", "pooler", "pooled_classifier", "exit_classifier", "skip_gate")


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


@dataclass(frozen=True)
class ComponentCosts:
    """FLOPs per component at one sequence length, in both conventions (absolute counts)."""

    shape: BackboneShape
    seq_len: int
    num_labels: int
    paper: dict[str, float]
    fvcore: dict[str, float]

    def of(self, convention: str) -> dict[str, float]:
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown FLOPs convention {convention!r}; known: {', '.join(CONVENTIONS)}")
        return getattr(self, convention)

    def model_cost(self, convention: str, layers: Any, heads: Any, gates: Any, head_kind: str) -> Any:
        """embeddings + layers x layer + heads x head + gates x gate (scalars or arrays)."""
        c = self.of(convention)
        return c["embeddings"] + layers * c["layer"] + heads * c[head_kind] + gates * c["skip_gate"]

    def reference_cost(self, convention: str, num_layers: int | None = None) -> float:
        """The backbone's plain forward: every layer and BERT's pooled classifier (100% cost)."""
        return self.model_cost(convention, num_layers or self.shape.num_layers, 1, 0, "pooled_classifier")


@lru_cache(maxsize=32)
def component_costs(shape: BackboneShape, seq_len: int = 128, num_labels: int = 2) -> ComponentCosts:
    """Count every component of ``shape`` at ``seq_len`` tokens, batch 1 (random weights)."""
    from transformers.models.bert.modeling_bert import BertEmbeddings, BertLayer

    if seq_len < 1:
        raise ValueError(f"sequence length must be positive, got {seq_len}")
    config = shape.to_bert_config()
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
    return ComponentCosts(shape, seq_len, num_labels, paper, fvcore)


def analytic_layer_macs(shape: BackboneShape, seq_len: int) -> int:
    """4 s h^2 + 2 s h ffn + 2 s^2 h: projections, feed-forward, attention matmuls."""
    s, h = seq_len, shape.hidden
    return 4 * s * h * h + 2 * s * h * shape.ffn + 2 * s * s * h


def flops_table(costs: ComponentCosts) -> list[dict[str, Any]]:
    """Rows for ``smartbert flops``: each component and the whole plain model, both conventions."""
    rows = [{"component": name, "paper_flops": costs.paper[name], "fvcore_macs": costs.fvcore[name]}
            for name in COMPONENTS]
    rows.append({"component": f"model ({costs.shape.num_layers} layers + classifier)",
                 "paper_flops": costs.reference_cost("paper"), "fvcore_macs": costs.reference_cost("fvcore")})
    return rows
