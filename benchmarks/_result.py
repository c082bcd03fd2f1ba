"""The one tail every benchmark shares: print its result and write it as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from smartbert.core.io import atomic_write_text


def write_result(result: dict, out: str | None) -> None:
    """Print ``result`` and, with ``out``, write it there atomically (a killed run leaves the old file)."""
    text = json.dumps(result, indent=2) + "\n"
    print(text, end="")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out), text)
