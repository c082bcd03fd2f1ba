"""Shared fixtures: offline, a private cache, the device, the tiny tokenizer and synthetic data
(helpers that are not fixtures: tests/helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from smartbert.data.encode import encode
from smartbert.data.load import load_split
from smartbert.modeling import backbones

torch.set_num_threads(min(2, torch.get_num_threads()))


CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="no CUDA device")])]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """The one place tests get their device from: every test that trains, traces or times runs on
    the CPU, and again on CUDA where a GPU exists (`pytest -m gpu` runs only those; make gpu-check)."""
    return torch.device(request.param)


@pytest.fixture
def deterministic(device, monkeypatch):
    """On CUDA, deterministic algorithms for the test with cuBLAS's fixed workspace (which cuBLAS reads
    when it starts, so the run must start with it: make gpu-check sets it in pytest's environment; a
    test after cuBLAS started without it is skipped), then everything as it was. The CPU as it is."""
    from smartbert.modeling.device import CUBLAS_WORKSPACE, make_deterministic

    if device.type != "cuda":
        yield
        return
    if device.type == "cuda" and torch.cuda.is_initialized() and os.environ.get("CUBLAS_WORKSPACE_CONFIG") != CUBLAS_WORKSPACE:
        pytest.skip(f"CUDA started without CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE}: run pytest with it set (make gpu-check does)")
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", os.environ.get("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE))
    make_deterministic(True)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.benchmark = before[2]


@pytest.fixture(autouse=True)
def _cli_device(request, monkeypatch) -> None:
    """Tests marked ``cli`` run the CLI in this process: on the CPU (``SMARTBERT_DEVICE=cpu``; on a GPU
    machine the default, auto, would take the GPU unasked), or on the parametrised ``device`` for a
    test taking it (its CUDA variant is marked ``gpu``)."""
    if request.node.get_closest_marker("cli") is not None:
        chosen = request.getfixturevalue("device").type if "device" in request.fixturenames else "cpu"
        monkeypatch.setenv("SMARTBERT_DEVICE", chosen)


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
def sentiment_pool(tokenizer):
    """250 synthetic single-sentence dev examples, tokenised: a pool to choose examples from."""
    return encode(load_split("synthetic-sentiment", "dev")[:250], tokenizer)


@pytest.fixture(scope="session")
def nli_dev(tokenizer):
    """48 synthetic sentence-pair (3-label) examples, tokenised."""
    return encode(load_split("synthetic-nli", "dev")[:48], tokenizer)


@pytest.fixture(scope="session")
def sentiment_train(tokenizer):
    """256 synthetic single-sentence training examples, tokenised (a toy separable task)."""
    return encode(load_split("synthetic-sentiment", "train")[:256], tokenizer)


#: trained models' configs where the default would not do for equivalence tests: SmartBERT's gate
#: reward (lam) makes a tiny model skip every layer within a few steps; without it the gates split
TRAINED_CONFIGS = {"smartbert": {"lam": 0.0}}


@pytest.fixture(scope="session")
def trained_model(sentiment_train):
    """``trained_model(name)``: a tiny model of the method ``name`` after 40 quick steps per stage on
    ``sentiment_train`` (:func:`tests.helpers.train_briefly`), trained once per session, on the CPU."""
    from smartbert.methods.registry import get_method
    from tests.helpers import train_briefly

    models: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in models:
            config = get_method(name).config_class(**TRAINED_CONFIGS.get(name, {}))
            models[name] = train_briefly(name, sentiment_train, config=config)
        return models[name]

    return get


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/integration/ (subprocesses, the CLI, Snakemake) carry the ``integration``
    marker: ``pytest -m "not integration"`` runs the unit tests alone, in about a minute."""
    integration = Path(__file__).resolve().parent / "integration"
    for item in items:
        if integration in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
