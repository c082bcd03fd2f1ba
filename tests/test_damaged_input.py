"""Damaged, truncated, foreign or wrongly encoded input fails with one clean error naming the file
(issue 16): families of bad files generated here, for each reader, and out-of-range settings.
Every case asserts a SmartBertError (what the CLI prints as one line, exit 2), never a traceback."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from smartbert.checkpoint import META_FILE, REQUIRED_META, WEIGHTS_FILE, load_model, read_meta
from smartbert.cli import main
from smartbert.data.load import load_split
from smartbert.errors import CheckpointError, DataFormatError, SmartBertError
from smartbert.trace import Trace
from smartbert.trainer import TrainConfig

RTE_DEV = ("index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tA person rests.\tentailment\n"
           "1\tA man sleeps.\tNobody sleeps.\tnot_entailment\n2\tCafé au lait.\tA drink.\tentailment\n").encode()
OFFSETS = [0, 1, 5, 17, 40, 60, 90, len(RTE_DEV) - 3]


def glue_with(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "RTE").mkdir(parents=True, exist_ok=True)
    (tmp_path / "RTE" / "dev.tsv").write_bytes(data)
    return tmp_path


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\x80\x80", b"\xe9"])
def test_bytes_that_are_not_utf8_name_the_file_and_the_offset(tmp_path, offset: int, bad: bytes) -> None:
    data = RTE_DEV[:offset] + bad + RTE_DEV[offset:]
    with pytest.raises(DataFormatError, match=r"dev\.tsv: not UTF-8 text .* at offset \d+.*re-download"):
        load_split("RTE", "dev", glue_dir=glue_with(tmp_path, data))


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "cp1252"])
def test_a_file_in_another_encoding_is_named(tmp_path, encoding: str) -> None:
    data = RTE_DEV.decode().encode(encoding)
    with pytest.raises(DataFormatError, match="dev.tsv"):
        load_split("RTE", "dev", glue_dir=glue_with(tmp_path, data))


@pytest.mark.parametrize("cut", range(0, len(RTE_DEV), 7))
def test_a_truncated_tsv_parses_its_whole_rows_or_fails_cleanly(tmp_path, cut: int) -> None:
    try:
        examples = load_split("RTE", "dev", glue_dir=glue_with(tmp_path, RTE_DEV[:cut]))
    except SmartBertError as error:
        assert "dev.tsv" in str(error) and "\n" not in str(error)
    else:
        assert len(examples) <= 3


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_as_a_tsv_fail_cleanly(tmp_path, seed: int) -> None:
    data = random.Random(seed).randbytes(200)
    try:
        load_split("RTE", "dev", glue_dir=glue_with(tmp_path, data))
    except SmartBertError as error:
        assert "dev.tsv" in str(error)
    else:
        pytest.fail("random bytes parsed as RTE")


# ---- model directories --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "bert"
    assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
                 "--max-train-examples", "64", "--out", str(out)]) == 0
    return out


def damaged_copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    return copy


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


# ---- traces -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trace_file(model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trace") / "trace.npz"
    assert main(["-q", "trace", "--model", str(model_dir), "--task", "synthetic-sentiment", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_a_truncated_trace_is_named(trace_file, tmp_path, fraction: float) -> None:
    data = trace_file.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(SmartBertError, match=r"bad\.npz .*smartbert trace"):
        Trace.load(bad)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_not_a_trace(tmp_path, seed: int) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(random.Random(seed).randbytes(300))
    with pytest.raises(SmartBertError, match="not a readable trace"):
        Trace.load(bad)


@pytest.mark.parametrize("drop", ["labels", "ran", "evaluated", "logits", "gate_prob", "lengths", "meta"])
def test_a_trace_archive_lacking_an_array_is_named(trace_file, tmp_path, drop: str) -> None:
    with np.load(trace_file, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != drop}
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(SmartBertError, match=rf"lacks \['{drop}'\]"):
        Trace.load(bad)


def test_a_single_array_or_a_pickle_is_not_a_trace(tmp_path) -> None:
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(SmartBertError, match="not a readable trace"):
        Trace.load(tmp_path / "one.npy")
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SmartBertError, match="not a readable trace"):
        Trace.load(tmp_path / "pickled.npz")


def test_sweep_of_a_file_that_is_not_a_trace_prints_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a trace\n")
    assert main(["sweep", "--trace", str(bad), "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.txt is not a readable trace" in err[0]
    assert not (tmp_path / "s.csv").exists()


# ---- settings out of range ----------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("heldout_fraction", 1.5), ("heldout_fraction", 1.0), ("heldout_fraction", 0.0), ("heldout_fraction", -0.1),
    ("warmup_ratio", 1.0), ("warmup_ratio", -0.01), ("weight_decay", -0.1), ("max_grad_norm", 0.0),
    ("learning_rate", 0.0), ("batch_size", 0), ("epochs", -1), ("max_seq_len", 0), ("eval_batch_size", 0),
    ("max_train_examples", 0), ("selection", "test"), ("precision", "fp8"),
])
def test_an_out_of_range_training_setting_is_named(field: str, value) -> None:
    with pytest.raises(SmartBertError, match=field if field not in ("selection", "precision") else "must be"):
        TrainConfig(**{field: value})


def test_a_sequence_length_beyond_the_backbone_is_refused_before_any_work(tmp_path, capsys) -> None:
    code = main(["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--out", str(tmp_path / "m"),
                 "--config", json.dumps({"train": {"max_seq_len": 100000}})])
    err = capsys.readouterr().err
    assert code == 2 and "max_seq_len 100000 exceeds backbone 'tiny'" in err and "position embeddings" in err
    assert not (tmp_path / "m").exists()


# ---- faults while writing -----------------------------------------------------------------------

KILL_AT_RENAME = """
import os, signal, sys
rename, target = os.replace, os.environ["KILL_WHEN_RENAMING_TO"]
def replace(src, dst, **kwargs):
    if os.path.abspath(dst) == target:
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst, **kwargs)
os.replace = replace
from smartbert.cli import main
sys.exit(main(sys.argv[1:]))
"""


def killed_at_rename(target: Path, *args: str) -> int:
    """Run `smartbert ARGS` in a process SIGKILLed at the moment it would rename its finished output
    ``target`` into place (the last instant of its write): what a kill during writing can leave behind."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", KILL_WHEN_RENAMING_TO=str(target.resolve()))
    return subprocess.run([sys.executable, "-c", KILL_AT_RENAME, *args], env=env, capture_output=True, timeout=600).returncode


def writer_commands(model_dir: Path, trace_file: Path, out: Path) -> dict[str, list[str]]:
    return {
        "trace": ["trace", "--model", str(model_dir), "--task", "synthetic-sentiment", "--out", str(out / "t.npz")],
        "sweep": ["sweep", "--trace", str(trace_file), "--out", str(out / "s.csv")],
        "oracle": ["oracle", "--trace", str(trace_file), "--out", str(out / "o.json")],
        "latency": ["latency", "--task", "synthetic-sentiment", "--models", str(model_dir), "--examples", "4", "--repeats", "1",
                    "--out", str(out / "l.csv")],
        "data": ["data", "--task", "synthetic-sentiment", "--out", str(out / "d.json")],
        "train": ["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
                  "--max-train-examples", "32", "--out", str(out / "m")],
    }


@pytest.mark.parametrize("command", ["trace", "sweep", "oracle", "latency", "data", "train"])
def test_a_writer_killed_while_writing_leaves_nothing_that_looks_finished_and_the_rerun_completes(
        command: str, model_dir, trace_file, tmp_path) -> None:
    args = writer_commands(model_dir, trace_file, tmp_path)[command]
    target = Path(args[args.index("--out") + 1])
    assert killed_at_rename(target, *args) == -9
    assert not target.exists()
    assert main(["-q", *args]) == 0 and target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.name.startswith(f".{target.name}")]  # the kill's leftover, hidden
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {target.name}


def test_disk_full_while_saving_a_model_names_the_path_and_keeps_the_previous_model(model_dir, tmp_path, monkeypatch) -> None:
    import errno

    import smartbert.checkpoint as checkpoint

    copy = damaged_copy(model_dir, tmp_path)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    loaded = load_model(copy)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(CheckpointError, match=rf"could not write the model to {copy} \(No space left on device\).*unchanged"):
        checkpoint.save_model(copy, loaded.model, loaded.method, loaded.method_config, loaded.meta["backbone"],
                              loaded.model.encoder.config, loaded.tokenizer, {}, {})
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]
