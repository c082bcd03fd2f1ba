"""Shared fixtures: offline, a private cache, a tiny random BERT and synthetic data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from smartbert.modeling import backbones
from smartbert.data.encode import encode
from smartbert.data.load import load_split

torch.set_num_threads(min(2, torch.get_num_threads()))


CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="no CUDA device")])]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """The one place tests get their device from: every test that trains, traces or times runs on
    the CPU, and again on CUDA where a GPU exists (`pytest -m gpu` runs only those; make gpu-check)."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SMARTBERT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tokenizer():
    return backbones.load_tokenizer("tiny")


@pytest.fixture(scope="session")
def sentiment_dev(tokenizer):
    """64 synthetic single-sentence examples, tokenised."""
    return encode(load_split("synthetic-sentiment", "dev")[:64], tokenizer)


@pytest.fixture(scope="session")
def nli_dev(tokenizer):
    """48 synthetic sentence-pair (3-label) examples, tokenised."""
    return encode(load_split("synthetic-nli", "dev")[:48], tokenizer)


def tiny_bert(seed: int = 0):
    return backbones.load_backbone("tiny", seed=seed)


def workflow_env() -> dict[str, str]:
    """The environment for running Snakemake in a test: its rules call the `smartbert` command, which
    lives beside this Python (`make test` runs `.venv/bin/python` without activating `.venv`)."""
    import sys
    from pathlib import Path

    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
