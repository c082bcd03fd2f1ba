"""What SmartBERT's skipping gates do (issue 15, item 5): per layer, how often gate i skips layer i
on dev (G^i >= 0.5, eq. 9) and the distribution of its values (the tables:
:mod:`smartbert.reporting.gate_tables`).

Read from a trace (``smartbert oracle`` adds it to its JSON for gated models), so the committed
per-model outputs carry it and the tables assemble without the models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smartbert.replay.trace import Trace

GATE_THRESHOLD = 0.5  # eq. 9: skip layer i iff G^i(X^{i-1}) >= 0.5
BINS = 10  # gate-value histogram over [0, 1]


def gate_statistics(trace: Trace) -> list[dict[str, Any]]:
    """Per layer: the share of dev examples whose gate skips it, the mean gate value and a
    ``BINS``-bin histogram of the values (shares of the examples)."""
    rows = []
    for layer in range(1, trace.num_layers + 1):
        values = trace.gate_prob[:, layer - 1]
        values = values[np.isfinite(values)]
        counts = np.histogram(values, bins=BINS, range=(0.0, 1.0))[0] if len(values) else np.zeros(BINS)
        rows.append({"layer": layer, "skip_rate": 100.0 * float((values >= GATE_THRESHOLD).mean()) if len(values) else float("nan"),
                     "mean_gate": float(values.mean()) if len(values) else float("nan"),
                     "histogram": [round(float(c) / max(1, len(values)), 4) for c in counts]})
    return rows
