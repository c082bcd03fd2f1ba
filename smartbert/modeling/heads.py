"""Per-layer plug-ins: exit classifiers, skipping gates and BERT-style pooled classifiers.

Shapes follow the paper (section 3.2) and the official code (github HuBoren99/SmartBert,
``models/Classifier.py``, ``models/Gate.py``), which follow FastBERT (Liu et al., 2020):
a narrowing Linear h->128 with tanh, multi-head self-attention at width 128 with query, key and
value projections and no output projection, then the [CLS] position.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from smartbert.core.config import FRACTION
from smartbert.core.errors import SmartBertError

if TYPE_CHECKING:
    from transformers import BertModel

NARROW_WIDTH = 128


def check_head_width(width: int, **heads: int) -> None:
    """``width`` must split evenly over each attention head count given (by its setting's name):
    every head of a narrow attention takes ``width / heads`` dimensions."""
    for name, count in heads.items():
        if width % count:
            raise SmartBertError(f"width {width} must be a multiple of {name} ({count}): "
                                 f"each attention head takes width / heads dimensions")

class NarrowSelfAttention(nn.Module):
    """Multi-head self-attention at a small width (Q, K, V projections, no output projection).

    Q, K and V are one fused ``Linear(width, 3 * width)`` (one matrix product instead of three: at
    batch 1 the heads' cost is dispatch, not arithmetic); initialised and loaded exactly as three
    separate ``query``/``key``/``value`` layers (the layout of the official code and of models saved
    before the fusion)."""

    def __init__(self, width: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        check_head_width(width, heads=heads)
        self.heads, self.dropout = heads, dropout
        separate = [nn.Linear(width, width) for _ in range(3)]  # same random stream as three layers
        self.qkv = torch.nn.utils.skip_init(nn.Linear, width, 3 * width)
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([layer.weight for layer in separate]))
            self.qkv.bias.copy_(torch.cat([layer.bias for layer in separate]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        fuse_separate_qkv(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, first_token_only: bool = False) -> torch.Tensor:
        """[B, L, width]; with ``first_token_only`` just the [CLS] position's [B, width], which is
        all a gate or a classifier reads (fewer copies: it matters at batch 1)."""
        batch, length, width = x.shape
        query, key, value = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        if first_token_only:
            return out[:, :, 0].reshape(batch, width)
        return out.transpose(1, 2).reshape(batch, length, width)


def fuse_separate_qkv(state_dict: dict[str, torch.Tensor], prefix: str) -> None:
    """In place: the narrow attention at ``prefix`` saved as separate ``query/key/value.{weight,bias}``
    (the layout before the fusion, and the official code's) becomes ``qkv.{weight,bias}``."""
    if prefix + "query.weight" in state_dict:
        for kind in ("weight", "bias"):
            state_dict[f"{prefix}qkv.{kind}"] = torch.cat([state_dict.pop(f"{prefix}{name}.{kind}") for name in ("query", "key", "value")])


class ExitClassifier(nn.Module):
    """FastBERT / SmartBERT exit classifier C^i (eq. 2): tanh(Linear h->128), self-attention,
    [CLS], tanh(Linear 128->128), Linear 128->labels. The official code uses 4 heads."""

    kind = "exit_classifier"

    def __init__(self, hidden: int, num_labels: int, width: int = NARROW_WIDTH, heads: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.narrow = nn.Linear(hidden, width)
        self.attention = NarrowSelfAttention(width, heads, dropout)
        self.dense = nn.Linear(width, width)
        self.out = nn.Linear(width, num_labels)

    def token_states(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """H^i = Self-Attention(tanh(Linear(X^i))), every token (eq. 5 uses it)."""
        return self.attention(torch.tanh(self.narrow(hidden)), mask)

    def classify(self, states: torch.Tensor) -> torch.Tensor:
        """Logits from H^i (every token; the [CLS] one is used)."""
        return self._classify_first(states[:, 0])

    def _classify_first(self, first: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.dense(first)))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``classify(token_states(...))``, computing only the [CLS] row after the attention."""
        return self._classify_first(self.attention(torch.tanh(self.narrow(hidden)), mask, first_token_only=True))


class SkipGate(nn.Module):
    """Skipping gate G^i (eq. 1): tanh(Linear h->128), 2-head self-attention, [CLS],
    Linear 128->1, sigmoid. Returns the probability of skipping layer i, one per sample.

    ``start_skip``: None keeps PyTorch's initialisation (as the official ``models/Gate.py``; a gate
    then starts near 0.5, and the paper gives no initialisation); a probability p sets the output
    bias to logit(p), so the gate starts near p (its weights keep their initialisation)."""

    kind = "skip_gate"

    def __init__(self, hidden: int, width: int = NARROW_WIDTH, heads: int = 2, dropout: float = 0.1,
                 start_skip: float | None = None) -> None:
        super().__init__()
        self.narrow = nn.Linear(hidden, width)
        self.attention = NarrowSelfAttention(width, heads, dropout)
        self.out = nn.Linear(width, 1)
        if start_skip is not None:  # after the default init, so the random stream is the same either way
            if start_skip not in FRACTION:
                raise SmartBertError(f"start_skip must be {FRACTION.describe()}, got {start_skip!r}")
            nn.init.constant_(self.out.bias, math.log(start_skip / (1.0 - start_skip)))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        first = self.attention(torch.tanh(self.narrow(hidden)), mask, first_token_only=True)
        return torch.sigmoid(self.out(first)).squeeze(-1)


class PooledClassifier(nn.Module):
    """BERT's sequence classifier (pooler Linear h->h + tanh on [CLS], dropout, Linear h->labels);
    also DeeBERT's off-ramp (Xin et al., 2020), which has the same shape. ``pooling="mean"`` reads
    the mean of the sentence's token states instead of [CLS] (a diagnostic: same linear layers and
    FLOPs, the pooling's additions aside)."""

    kind = "pooled_classifier"

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1, pooling: str = "cls") -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be cls or mean, got {pooling!r}")
        self.pooling = pooling
        self.pooler = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.dropout(torch.tanh(self.pooler(self._pool(hidden, mask)))))

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        if mask is None:  # batch 1 without padding
            return hidden.mean(dim=1)
        keep = (mask.reshape(mask.shape[0], -1) == 0).to(hidden.dtype).unsqueeze(-1)  # additive mask: 0 where a token is
        return (hidden * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def pooled_head(backbone: BertModel, num_labels: int, dropout: float, pretrained_pooler: bool) -> PooledClassifier:
    """BERT's classifier; its pooler copied from the backbone's when asked and available."""
    head = PooledClassifier(backbone.config.hidden_size, num_labels, dropout)
    if pretrained_pooler and backbone.pooler is not None:
        head.pooler.load_state_dict(backbone.pooler.dense.state_dict())
    return head


#: Head kinds by name, for FLOPs accounting and for rebuilding saved models.
HEAD_KINDS: dict[str, type[nn.Module]] = {cls.kind: cls for cls in (ExitClassifier, PooledClassifier)}
