"""The one model structure every method shares: a layered encoder, an optional skipping gate per
layer and exit heads at some layers (BERT: only the last; DeeBERT, FastBERT, SmartBERT: all).

Methods differ in which heads they attach, how they train, and which exit policy they use;
the inference path (:meth:`EarlyExitModel.walk`) is written once, here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smartbert.modeling.encoder import LayeredEncoder, additive_mask
from smartbert.replay.gates import GATE_THRESHOLD


@dataclass
class LayerStep:
    """What happened at one layer (1-based ``layer``) for each example of a batch.

    ``ran``: the layer was computed (its gate did not skip it); ``evaluated``: the exit head of this
    layer produced ``logits`` for that row. Both are host (NumPy) arrays: the host decides which rows
    to compute, so it knows them without reading the device again. ``logits`` ([B, C] float32 on the
    device, NaN rows where not evaluated) is None when no row was evaluated; ``gate_prob`` is None
    for models without gates.
    """

    layer: int
    ran: np.ndarray
    evaluated: np.ndarray
    logits: torch.Tensor | None
    gate_prob: torch.Tensor | None


class EarlyExitModel(nn.Module):
    """Backbone + skipping gates (optional) + exit heads at ``heads``' layers (1-based keys)."""

    def __init__(self, encoder: LayeredEncoder, heads: Mapping[int, nn.Module], num_labels: int,
                 gates: Sequence[nn.Module] | None = None, extras: Mapping[str, nn.Module] | None = None) -> None:
        """``extras``: training-only modules of a method (e.g. projection heads), saved with it."""
        super().__init__()
        if encoder.num_layers not in heads:
            raise ValueError("the last layer must have a head: it gives the prediction when no exit fires")
        self.encoder = encoder
        self.num_labels = num_labels
        self.heads = nn.ModuleDict({str(layer): head for layer, head in sorted(heads.items())})
        self.gates = nn.ModuleList(gates) if gates is not None else None
        if self.gates is not None and len(self.gates) != encoder.num_layers:
            raise ValueError(f"{len(self.gates)} gates for {encoder.num_layers} layers")
        self.extras = nn.ModuleDict(extras or {})

    @property
    def num_layers(self) -> int:
        return self.encoder.num_layers

    @property
    def exit_layers(self) -> list[int]:
        return [int(k) for k in self.heads]

    @property
    def head_kind(self) -> str:
        return str(next(iter(self.heads.values())).kind)

    def has_head(self, layer: int) -> bool:
        return str(layer) in self.heads

    def head(self, layer: int) -> nn.Module:
        """The exit head at ``layer`` (1-based); every model has one at its last layer."""
        if str(layer) not in self.heads:
            raise KeyError(f"no exit head at layer {layer}; heads at {self.exit_layers}")
        return self.heads[str(layer)]

    def gate_modules(self) -> nn.ModuleList:
        """The skipping gates (a gated model's; eq. 1)."""
        if self.gates is None:
            raise ValueError("this model has no skipping gates")
        return self.gates

    @torch.inference_mode()
    def walk(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
             attention_mask: torch.Tensor | None = None, use_gates: bool = True,
             exit_heads: bool = True) -> Iterator[LayerStep]:
        """Inference path (eqs. 9-10, Appendix A): for i = 1..L, gate i decides per example
        whether layer i runs (skipped rows keep X^{i-1}, and are not computed); where it ran and
        a head exists, the head's logits are produced. The last head is always evaluated, since
        it gives the prediction when no exit fires. Stop iterating to stop computing.
        ``use_gates=False`` ignores the gates (exit-only mode: every layer runs);
        ``exit_heads=False`` evaluates the last head only (a policy that never exits early, e.g.
        skip-only, Table 3: the intermediate classifiers would be computed for nothing)."""
        hidden = self.encoder.embed(input_ids, token_type_ids)
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in range(1, self.num_layers + 1):
            hidden, step = self.step(layer, hidden, mask, use_gates, exit_heads)
            yield step

    @torch.inference_mode()
    def step(self, layer: int, hidden: torch.Tensor, mask: torch.Tensor | None,
             use_gates: bool = True, exit_heads: bool = True) -> tuple[torch.Tensor, LayerStep]:
        """One layer of :meth:`walk` for the rows of ``hidden`` (which the caller may shrink
        between layers as examples exit: batched dynamic inference). A gated layer reads its
        decisions from the device once (which rows run: only those are computed); an ungated
        layer reads nothing (docs/design.md, "Devices": host reads per layer)."""
        batch = hidden.shape[0]
        gate_prob = None
        if self.gates is not None and use_gates:
            gate_prob = self.gates[layer - 1](hidden, mask)
            ran = (gate_prob < GATE_THRESHOLD).cpu().numpy()
        else:
            ran = np.ones(batch, dtype=bool)
        every_row_ran = bool(ran.all())
        if every_row_ran:
            hidden = self.encoder.layer(layer - 1, hidden, mask)
        elif ran.any():
            rows = _row_index(ran, hidden.device)
            hidden = hidden.index_copy(0, rows, self.encoder.layer(layer - 1, hidden.index_select(0, rows),
                                                                   _rows(mask, rows)))
        head = self.head(layer) if (exit_heads or layer == self.num_layers) and self.has_head(layer) else None
        logits = None
        if head is not None and (layer == self.num_layers or every_row_ran):  # the last layer always has a head
            # every row's head is evaluated (the last one always): no row selection, no NaN filling
            evaluated = np.ones(batch, dtype=bool)
            logits = head(hidden, mask).float()
        else:
            evaluated = ran.copy() if head is not None else np.zeros(batch, dtype=bool)
            if evaluated.any():
                assert head is not None
                rows = _row_index(evaluated, hidden.device)
                logits = torch.full((batch, self.num_labels), float("nan"), device=hidden.device).index_copy(
                    0, rows, head(hidden.index_select(0, rows), _rows(mask, rows)).float())
        return hidden, LayerStep(layer, ran, evaluated, logits, gate_prob)

    def layer_states(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                     attention_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """X^1..X^L of the full-depth path without gates (training; with gradients where they flow)."""
        hidden = self.encoder.embed(input_ids, token_type_ids)
        mask = additive_mask(attention_mask, hidden.dtype)
        states = []
        for layer in range(self.num_layers):
            hidden = self.encoder.layer(layer, hidden, mask)
            states.append(hidden)
        return states

    def forward_all_exits(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                          attention_mask: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        """Training path without gates: every layer runs, every head's logits (with gradients)."""
        hidden = self.encoder.embed(input_ids, token_type_ids)
        mask = additive_mask(attention_mask, hidden.dtype)
        logits = {}
        for layer in range(1, self.num_layers + 1):
            hidden = self.encoder.layer(layer - 1, hidden, mask)
            if self.has_head(layer):
                logits[layer] = self.head(layer)(hidden, mask)
        return logits


def _row_index(selected: np.ndarray, device: torch.device) -> torch.Tensor:
    """The positions of the host mask ``selected`` as an index on ``device``. A copy to the device
    (a boolean mask on the device would make the host wait for its ``nonzero``); it is made just
    after the host read its decisions, when the device has nothing queued to wait for."""
    return torch.from_numpy(np.flatnonzero(selected)).to(device, non_blocking=True)


def _rows(mask: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else mask.index_select(0, rows)
