"""What tests share beyond fixtures (imported as ``tests.helpers``): the repository's path, the tiny
random BERT, the environment a workflow subprocess needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from smartbert.modeling import backbones

REPO = Path(__file__).resolve().parent.parent
PAPER_DIR = REPO / "results" / "paper"


def tiny_bert(seed: int = 0):
    """The tiny random BERT backbone (4 layers of width 32)."""
    return backbones.load_backbone("tiny", seed=seed)


def workflow_env() -> dict[str, str]:
    """The environment for running Snakemake in a test: its rules call the `smartbert` command, which
    lives beside this Python (`make test` runs `.venv/bin/python` without activating `.venv`)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def trace_from_predictions(labels: list[int], predictions: list[list[int | None]], ran: list[list[int]] | None = None,
                           gates: bool = False, task: str = "SST-2", num_labels: int = 2,
                           head_kind: str = "exit_classifier", shape: dict[str, int] | None = None):
    """A hand-built trace: ``predictions[i][j]`` is the class example i's head j confidently predicts
    (logits 4.0 for it, 0.0 for the others: entropy ~0.09 nats) or None where no head was evaluated;
    ``ran`` which layers were computed (default: all). Imports lazily: the replay layer needs no torch."""
    import numpy as np

    from smartbert.replay.trace import Trace, TraceMeta

    n, layers = len(labels), len(predictions[0])
    classes = num_labels
    evaluated = np.array([[p is not None for p in row] for row in predictions])
    logits = np.full((n, layers, classes), np.nan, dtype=np.float32)
    for i, row in enumerate(predictions):
        for j, p in enumerate(row):
            if p is not None:
                logits[i, j] = 0.0
                logits[i, j, p] = 4.0
    ran_array = np.ones((n, layers), dtype=bool) if ran is None else np.array(ran, dtype=bool)
    meta = TraceMeta(num_layers=layers, num_labels=classes, head_kind=head_kind, exit_layers=list(range(1, layers + 1)),
                     has_gates=gates, task=task, method="test", label="Test", default_policy="entropy",
                     shape=shape or {"num_layers": layers, "hidden": 32, "heads": 2, "ffn": 64, "vocab_size": 100},
                     max_seq_len=16)
    return Trace(np.array(labels), ran_array, evaluated, logits, np.where(ran_array, 0.1, 0.9).astype(np.float32),
                 np.full(n, 8), meta)
