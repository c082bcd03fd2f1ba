"""Damaged model directories (description, weights) are named in one line; the CLI exits 2."""

from __future__ import annotations

import json

import pytest

from smartbert.app.cli import main
from smartbert.core.errors import CheckpointError
from smartbert.methods.checkpoint import (
    META_FILE,
    REQUIRED_META,
    WEIGHTS_FILE,
    load_model,
    read_meta,
)
from tests.integration.damaged_input.support import damaged_copy

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)

# ---- model directories --------------------------------------------------------------------------

@pytest.mark.parametrize("field", REQUIRED_META)
def test_a_model_description_lacking_a_field_is_named(model_dir, tmp_path, field: str) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    meta = json.loads((copy / META_FILE).read_text())
    del meta[field]
    (copy / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=rf"lacks \['{field}'\].*retrain"):
        load_model(copy)


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_an_unknown_format_version_is_refused_by_name(model_dir, tmp_path, version) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    meta = json.loads((copy / META_FILE).read_text())
    meta["format_version"] = version
    (copy / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"format_version .*reads version 1"):
        read_meta(copy)


@pytest.mark.parametrize("field, value", [("num_labels", "two"), ("labels", "positive"), ("method", 3), ("train_config", [1]),
                                          ("task", None), ("backbone_config", "bert")])
def test_a_model_description_field_of_the_wrong_type_is_named(model_dir, tmp_path, field: str, value) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    meta = json.loads((copy / META_FILE).read_text())
    meta[field] = value
    (copy / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=rf"smartbert\.json.*{field} must be .*retrain"):
        read_meta(copy)


def test_a_model_description_keeps_the_trainings_report(model_dir) -> None:
    meta = read_meta(model_dir)
    assert meta.max_seq_len == 128 and "dev_metrics_no_exit" in meta.report and "format_version" not in meta.report


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_a_truncated_model_description_is_named(model_dir, tmp_path, fraction: float) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    text = (copy / META_FILE).read_bytes()
    (copy / META_FILE).write_bytes(text[:int(len(text) * fraction)])
    with pytest.raises(CheckpointError, match="smartbert.json"):
        read_meta(copy)


@pytest.mark.parametrize("content", [b"[1, 2, 3]", b"\xff\xfe\x00", b"null", b'"a string"'])
def test_a_foreign_model_description_is_named(model_dir, tmp_path, content: bytes) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    (copy / META_FILE).write_bytes(content)
    with pytest.raises(CheckpointError, match="smartbert.json"):
        read_meta(copy)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.01, 0.3, 0.7, 0.999])
def test_truncated_weights_are_named(model_dir, tmp_path, fraction: float) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    data = (copy / WEIGHTS_FILE).read_bytes()
    (copy / WEIGHTS_FILE).write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is damaged"):
        load_model(copy)


def test_the_cli_prints_one_line_and_exits_2_on_a_damaged_model(model_dir, tmp_path, capsys) -> None:
    copy = damaged_copy(model_dir, tmp_path)
    (copy / WEIGHTS_FILE).write_bytes(b"garbage")
    assert main(["trace", "--model", str(copy), "--task", "synthetic-sentiment", "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("smartbert trace: error: ") and "damaged" in err[0]
    assert not (tmp_path / "t.npz").exists()


