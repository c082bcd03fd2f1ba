"""The device seam: every tensor a model meets is on its device (checked on the CPU by
:class:`device_guard.HostTensorGuard`), ``--device`` resolves or fails in one line, provenance
records the device actually used, a precision that needs CUDA fails before any work (GPU claims and
CUDA RNG states, with torch.cuda faked: test_gpu_fakes.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from smartbert.app.cli import main
from smartbert.core.errors import SmartBertError
from smartbert.core.provenance import describe
from smartbert.data.encode import collate
from smartbert.data.prepare import DataOptions
from smartbert.inference.dynamic import predict_batched, predict_dynamic
from smartbert.inference.tracing import trace_model
from smartbert.methods.registry import get_method, method_names
from smartbert.modeling.device import resolve_device, to_device
from smartbert.training.config import TrainConfig
from smartbert.training.pipeline import train_method
from tests.device_guard import DeviceMismatch, HostTensorGuard
from tests.helpers import assert_same_outcome
from tests.unit.methods.test_methods import thresholds as five_thresholds

TASK, DATA = "synthetic-sentiment", DataOptions("synthetic")
QUICK = TrainConfig(epochs=1, batch_size=8, max_train_examples=24, eval_batch_size=16, seed=3)


def splitting_threshold(trace, policy: str) -> list[float]:
    """An S at which about half the examples exit at the first head and half go on, so that batched
    inference drops rows mid-batch (an untrained tiny model's entropies are too alike for the grid)."""
    if policy not in ("entropy", "normalised_entropy") or not trace.evaluated[:, 0].any():
        return []
    probs = torch.softmax(torch.from_numpy(trace.logits[trace.evaluated[:, 0], 0]), -1)
    entropy = -(probs * probs.log()).sum(-1) / (np.log(probs.shape[-1]) if policy == "normalised_entropy" else 1.0)
    return [float(entropy.median())]


def _needs(name: str) -> list[str]:
    config = get_method(name).config_class()
    return [n for stage in get_method(name).stages(config) for n in (stage.reuse, stage.teacher) if n]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A BERT model that DeeBERT reuses and DistilBERT distils from (trained without the guard)."""
    out = tmp_path_factory.mktemp("bert") / "bert"
    train_method(TASK, "bert", "tiny", out, QUICK, data=DATA, progress=False, resume=False)
    return out


@pytest.mark.parametrize("name", method_names())
def test_every_tensor_a_method_meets_is_on_its_device(name: str, bert_dir, tmp_path, device, sentiment_dev) -> None:
    """Train (every stage: teacher logits, reused models, loss terms), trace, batch-1 and batched
    dynamic inference of every registered method, under the guard: a tensor our code makes on the
    host without device=, or a model output read by NumPy without .cpu(), fails here."""
    init_from = {needed: str(bert_dir) for needed in _needs(name)}
    guard = HostTensorGuard()
    with guard:
        train_method(TASK, name, "tiny", tmp_path / name, QUICK, data=DATA, progress=False, init_from=init_from,
                     resume=False, device=device)
        trace = trace_model(tmp_path / name, data=DATA, progress=False, device=device)
        from smartbert.methods.checkpoint import load_model

        loaded = load_model(tmp_path / name, device=device)
        examples = sentiment_dev.subset(range(16))
        for threshold in five_thresholds(name) + splitting_threshold(trace, loaded.method.default_policy):
            policy = loaded.method.policy(loaded.method_config, threshold)
            single = predict_dynamic(loaded.model, examples, policy)
            batched = predict_batched(loaded.model, examples, policy, batch_size=8)
            assert_same_outcome(single, batched, f"{name} at {threshold}")
    assert guard.checked_ops > 1000  # the guard saw the work, not an empty block
    assert trace.meta.provenance["device_info"]["type"] == device.type


def test_the_guard_catches_a_host_tensor_and_numpy_without_cpu() -> None:
    """The guard itself, on code that makes both mistakes (this file counts as "ours" here)."""
    weight = torch.nn.Parameter(torch.ones(3))
    with HostTensorGuard(roots=(__file__,)):
        with pytest.raises(DeviceMismatch, match="created on the host without device="):
            weight * torch.arange(3, dtype=torch.float32)
        weight * torch.arange(3, dtype=torch.float32, device=weight.device)  # placed: fine
        weight * torch.arange(3, dtype=torch.float32).to(weight.device)      # moved: fine
        with pytest.raises(DeviceMismatch, match="created on the host without device="):
            weight[torch.from_numpy(np.array([True, False, True]))]
        with pytest.raises(DeviceMismatch, match=r"call .cpu\(\) first"):
            (weight * 2).detach().numpy()
        assert (weight * 2).detach().cpu().numpy().tolist() == [2.0, 2.0, 2.0]


def test_to_device_moves_model_inputs_and_keeps_the_index_on_the_host(sentiment_dev) -> None:
    batch = collate(sentiment_dev, [0, 1, 2])
    batch["teacher_logits"] = torch.zeros(3, 2)
    moved = to_device(batch, torch.device("meta"))
    assert {k for k, v in moved.items() if v.device.type == "meta"} == {"input_ids", "token_type_ids", "attention_mask",
                                                                        "labels", "teacher_logits"}
    assert moved["index"].device.type == "cpu"


def test_device_names_resolve_or_fail_in_one_line(monkeypatch) -> None:
    monkeypatch.delenv("SMARTBERT_DEVICE", raising=False)
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        assert resolve_device(None) == torch.device("cpu")
        with pytest.raises(SmartBertError, match="CUDA is not available.*use --device cpu"):
            resolve_device("cuda:0")
    with pytest.raises(SmartBertError, match="unknown device 'tpu': use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    monkeypatch.setenv("SMARTBERT_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cli_device_cuda_without_cuda_is_one_line(tmp_path, capsys) -> None:
    assert main(["--device", "cuda", "train", "--task", TASK, "--method", "bert", "--backbone", "tiny",
                 "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("smartbert train: error: device 'cuda' asked for, but CUDA is not available")
    assert not (tmp_path / "m").exists()


def test_provenance_records_the_device_that_trained(tmp_path, device) -> None:
    out = tmp_path / "m"
    train_method(TASK, "bert", "tiny", out, QUICK, data=DATA, progress=False, resume=False, device=device)
    info = json.loads((out / "provenance.json").read_text())
    meta = json.loads((out / "smartbert.json").read_text())
    assert info["device_info"]["type"] == device.type == meta["device"]["type"]
    assert info["device_info"]["precision"] == "fp32"
    assert info["device"] == describe(info["device_info"])
    if device.type == "cuda":
        assert info["device_info"]["name"] == torch.cuda.get_device_name(device) and meta["peak_gpu_memory_MB"] > 0
    else:
        assert info["device"].startswith("cpu ") and meta["peak_gpu_memory_MB"] is None


def test_precision_that_needs_cuda_fails_before_any_work(tmp_path) -> None:
    import dataclasses

    with pytest.raises(SmartBertError, match="'tf32' needs a CUDA GPU"):
        train_method(TASK, "bert", "tiny", tmp_path / "m", dataclasses.replace(QUICK, precision="tf32"), data=DATA,
                     progress=False, device="cpu")
    assert not any(tmp_path.iterdir())
