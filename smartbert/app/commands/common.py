"""What several replay commands share: traces, tags, the reference depth, CSV output (no torch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.io import atomic_write_text
from smartbert.modeling.backbones import backbone_shape
from smartbert.replay.trace import Trace


def write_csv(frame: pd.DataFrame, path: str) -> None:
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.4f"))


def load_trace(path: str) -> Trace:
    if not Path(path).is_file():
        raise SmartBertError(f"trace {path} not found; write it with `smartbert trace --model DIR --out {path}`")
    return Trace.load(path)


def reference_layers(backbone: str | None) -> int | None:
    """Depth of the backbone cost % is relative to (None: the model's own)."""
    if not backbone:
        return None
    return backbone_shape(backbone).num_layers


def parse_tags(items: list[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` items as a dict, in order."""
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SmartBertError(f"--tag takes KEY=VALUE (e.g. variant=default), got {item!r}")
        tags[key] = value
    return tags
