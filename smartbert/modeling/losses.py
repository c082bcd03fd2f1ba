"""Loss terms of SmartBERT (section 3.3) and the straight-through hard gate (section 3.5)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def hard_gate(soft: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Hard weight mechanism (eqs. 11-12): forward exactly 1[G >= 0.5], backward the soft
    gradient. ``soft - soft.detach()`` is exactly 0, so the forward value is exactly 0 or 1; the
    brackets matter: ``(hard + soft) - soft`` rounds and is not exactly 1 in float32."""
    return (soft >= threshold).to(soft.dtype) + (soft - soft.detach())


def per_exit_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[K] cross-entropy of each exit, from stacked [B, K, C] logits (eqs. 7: L_CE^i)."""
    return torch.stack([F.cross_entropy(logits[:, k], labels) for k in range(logits.shape[1])])


def skip_regulariser(gate_probs: torch.Tensor | list[torch.Tensor], lam: float) -> torch.Tensor:
    """Lambda / sum_i G^i (eq. 3, "the sloth of skipping"): rewards skipping. Per-sample gates
    ([L, B], or a list of L [B] tensors) are averaged over the batch before the sum, as the
    official code does."""
    probs = torch.stack(gate_probs) if isinstance(gate_probs, list) else gate_probs
    return lam / probs.mean(dim=1).sum().clamp_min(1e-6)


def cross_layer_contrastive(
    lower: torch.Tensor,
    upper: torch.Tensor,
    attention_mask: torch.Tensor | None,
    temperature: float,
    positive_in_denominator: bool = True,
) -> torch.Tensor:
    """InfoNCE between consecutive layers' token representations (eqs. 4 and 5), for one pair:
    ``lower``/``upper`` are [B, N, d] projected representations p^i, p^{i+1} (or h^i, h^{i+1}).
    :func:`consecutive_contrastive` of the two."""
    return consecutive_contrastive(torch.stack([lower, upper]), attention_mask, temperature, positive_in_denominator)


def consecutive_contrastive(
    states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    temperature: float,
    positive_in_denominator: bool = True,
) -> torch.Tensor:
    """1/(K-1) sum_i InfoNCE(p^i, p^{i+1}) over consecutive layers (eqs. 4 and 6; eq. 5 per pair).

    ``states``: [K, B, N, d] representations of K layers. For token m of layer i the positive is
    the same token one layer up, the negatives are the other tokens of the same sentence; s is
    cosine similarity over ``temperature``. Padding tokens are neither anchors nor candidates.
    Each pair's loss is the mean over real tokens of each sentence, then over the batch; the
    result is the mean over pairs. ``positive_in_denominator=False`` is the official stage-2
    variant (negatives only below). Every pair is computed at once (a few dozen operators per
    training step whatever K: on a GPU each operator is a launch).
    """
    unit = F.normalize(states, dim=-1)
    scores = unit[:-1] @ unit[1:].transpose(-1, -2) / temperature  # [K-1, B, N, N]: s(p_m^i, p_k^{i+1}) / t
    n = scores.shape[-1]
    valid = (torch.ones(scores.shape[1], n, dtype=torch.bool, device=scores.device) if attention_mask is None
             else attention_mask.bool())  # [B, N]
    blocked = ~valid[:, None, :]
    if not positive_in_denominator:
        blocked = blocked | torch.eye(n, dtype=torch.bool, device=scores.device)
    positive = scores.diagonal(dim1=-2, dim2=-1)
    denominator = torch.logsumexp(scores.masked_fill(blocked, float("-inf")), dim=-1)
    per_token = (denominator - positive).masked_fill(~valid, 0.0)
    per_sentence = per_token.sum(-1) / valid.sum(-1).clamp_min(1)  # [K-1, B]
    return per_sentence.mean()

