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

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BackboneShape:
    """What FLOPs depend on: depth, width, heads, feed-forward width."""

    num_layers: int
    hidden: int
    heads: int
    ffn: int
    vocab_size: int = 30522

    @classmethod
    def from_config(cls, config) -> BackboneShape:
        get = lambda *names: next(getattr(config, n) for n in names if hasattr(config, n))  # noqa: E731
        return cls(
            num_layers=get("num_hidden_layers", "n_layers"),
            hidden=get("hidden_size", "dim"),
            heads=get("num_attention_heads", "n_heads"),
            ffn=get("intermediate_size", "hidden_dim"),
            vocab_size=get("vocab_size"),
        )

    def as_dict(self) -> dict:
        return asdict(self)



CONVENTIONS = ("paper", "fvcore")
COMPONENTS = ("embeddings", "layer", "pooler", "pooled_classifier", "exit_classifier", "skip_gate")


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
        """Embeddings + layers x layer + heads x head + gates x gate (scalars or arrays)."""
        c = self.of(convention)
        return c["embeddings"] + layers * c["layer"] + heads * c[head_kind] + gates * c["skip_gate"]

    def reference_cost(self, convention: str, num_layers: int | None = None) -> float:
        """The backbone's plain forward: every layer and BERT's pooled classifier (100% cost)."""
        return self.model_cost(convention, num_layers or self.shape.num_layers, 1, 0, "pooled_classifier")


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
