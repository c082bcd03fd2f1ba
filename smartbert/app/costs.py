"""FLOPs of named backbones for the torch-free layers (Table 2, ``smartbert flops``)."""

from __future__ import annotations

from typing import Iterable

from smartbert.modeling.backbones import backbone_shape
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import ComponentCosts


def backbone_costs(backbones: Iterable[str], seq_len: int, num_labels: int = 2) -> dict[str, ComponentCosts]:
    """Each named backbone's component costs at ``seq_len`` (shapes of known backbones need no download)."""
    return {name: component_costs(backbone_shape(name), seq_len, num_labels) for name in dict.fromkeys(backbones)}
