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
