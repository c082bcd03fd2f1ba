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

from smartbert.methods.checkpoint import META_FILE, REQUIRED_META, WEIGHTS_FILE, load_model, read_meta
from smartbert.app.cli import main
from smartbert.data.load import load_split
from smartbert.core.errors import CheckpointError, DataFormatError, SmartBertError
from smartbert.replay.trace import Trace
from smartbert.training.trainer import TrainConfig

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


def _numeric_fields(config_class):
    import dataclasses
    import typing

    hints = typing.get_type_hints(config_class)
    for item in dataclasses.fields(config_class):
        kinds = set(typing.get_args(hints[item.name])) | {hints[item.name]}
        if kinds & {int, float} and bool not in kinds:
            yield item, hints[item.name]


def _outside(allowed) -> list:
    """Values just outside ``allowed`` on each bounded side, and NaN."""
    values = [float("nan")]
    if allowed.low is not None:
        values.append(allowed.low if allowed.low_open else allowed.low - 1)
    if allowed.high is not None:
        values.append(allowed.high if allowed.high_open else allowed.high + 1)
    return values


def _config_classes() -> dict:
    from smartbert.methods.registry import get_method, method_names

    return {"train": TrainConfig, **{name: get_method(name).config_class for name in method_names()}}


@pytest.mark.parametrize("name", list(_config_classes()))
def test_every_numeric_setting_has_a_range_and_every_text_setting_its_choices(name: str) -> None:
    """Registry-wide: a new method's config cannot add a number without saying what it may be."""
    import dataclasses
    import typing

    config_class = _config_classes()[name]
    for item, _ in _numeric_fields(config_class):
        assert item.metadata.get("range") is not None, f"{config_class.__name__}.{item.name} has no range"
    for item in dataclasses.fields(config_class):
        hint = typing.get_type_hints(config_class)[item.name]
        assert hint is not str or item.name == "precision", f"{config_class.__name__}.{item.name}: a str, not a Literal"


@pytest.mark.parametrize("name", list(_config_classes()))
def test_every_numeric_setting_out_of_its_range_is_refused_by_name(name: str) -> None:
    config_class = _config_classes()[name]
    cases = 0
    for item, _ in _numeric_fields(config_class):
        for value in _outside(item.metadata["range"]):
            with pytest.raises(SmartBertError, match=rf"{config_class.__name__}: {item.name} must be"):
                config_class(**{item.name: int(value) if value == value and isinstance(item.default, int) else value})
            cases += 1
    assert cases >= 2 or name == "bert" and cases >= 1


@pytest.mark.parametrize("name", list(_config_classes()))
def test_every_choice_setting_refuses_a_value_outside_its_choices(name: str) -> None:
    import dataclasses
    import typing

    config_class = _config_classes()[name]
    for item in dataclasses.fields(config_class):
        if typing.get_origin(typing.get_type_hints(config_class)[item.name]) is typing.Literal:
            with pytest.raises(SmartBertError, match=rf"{item.name} must be one of"):
                config_class(**{item.name: "no-such-choice"})


@pytest.mark.parametrize("method, values, match", [
    ("smartbert", {"width": 130}, "multiple of classifier_heads"), ("smartbert", {"gate_heads": 3}, "multiple of gate_heads"),
    ("smartbert", {"soft_epochs": 6, "stage1_epochs": 5}, "soft_epochs must be within"),
    ("fastbert", {"width": 100, "classifier_heads": 3}, "multiple of classifier_heads"),
])
def test_settings_that_contradict_each_other_are_refused(method: str, values: dict, match: str) -> None:
    with pytest.raises(SmartBertError, match=match):
        _config_classes()[method](**values)


@pytest.mark.parametrize("args, flag", [
    (["--threads", "0", "list"], "--threads"), (["train", "--task", "RTE", "--method", "bert", "--out", "x", "--epochs", "0"], "--epochs"),
    (["train", "--task", "RTE", "--method", "bert", "--out", "x", "--learning-rate=-1e-5"], "--learning-rate"),
    (["train", "--task", "RTE", "--method", "bert", "--out", "x", "--seed", "-3"], "--seed"),
    (["select", "--task", "RTE", "--grid", "lam=0.1", "--out", "x", "--heldout-fraction", "1.0"], "--heldout-fraction"),
    (["select", "--task", "RTE", "--grid", "lam=0.1", "--out", "x", "--tolerance", "-1"], "--tolerance"),
    (["flops", "--seq-len", "0"], "--seq-len"), (["flops", "--num-labels", "0"], "--num-labels"),
    (["trace", "--model", "m", "--task", "RTE", "--out", "t.npz", "--batch-size", "0"], "--batch-size"),
    (["latency", "--task", "RTE", "--models", "m", "--out", "l.csv", "--examples", "0"], "--examples"),
    (["latency", "--task", "RTE", "--models", "m", "--out", "l.csv", "--repeats", "0"], "--repeats"),
])
def test_an_out_of_range_flag_is_one_line_before_any_work(args: list[str], flag: str, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {flag} must be" in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, match", [
    (b"train: {epochs: 2\n", "not valid YAML at line"), (b"train:\n  - a\n b: c\n", "not valid YAML"),
    (b"train: {epochs: 2}\n\xff\xfe", "not UTF-8"), (b"\t- bad\n", "not valid YAML"), (b"- 1\n- 2\n", "expected a mapping"),
    (b"just text\n", "expected a mapping"), (b"train: [1, 2]\n", "train"), (b"train: {epochs: 0}\n", "epochs must be"),
    (b"train: {epochs: '3'}\n", "epochs must be int"), (b"method: {lam: -1.0}\n", "lam must be"),
    (b"train: {warmup_ratio: .nan}\n", "warmup_ratio must be"), (b"trian: {epochs: 2}\n", "unknown top-level key"),
])
def test_a_damaged_config_file_is_one_line_before_any_work(content: bytes, match: str, tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(content)
    code = main(["train", "--task", "synthetic-sentiment", "--method", "smartbert", "--backbone", "tiny", "--config", str(config),
                 "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not (tmp_path / "m").exists()


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
if sys.argv[1] == "--call":  # a library writer: --call module:function JSON-ARGS
    import importlib, json
    module, function = sys.argv[2].split(":")
    getattr(importlib.import_module(module), function)(*json.loads(sys.argv[3]))
    sys.exit(0)
from smartbert.app.cli import main
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


def test_selection_killed_while_writing_its_choice_leaves_no_choice_and_the_rerun_completes(tmp_path) -> None:
    out = tmp_path / "RTE"
    args = ["select", "--task", "synthetic-sentiment", "--method", "smartbert", "--backbone", "tiny", "--grid", "lam=0.01,0.1",
            "--config", json.dumps({"train": {"epochs": 1, "max_train_examples": 48}, "method": {"stage1_epochs": 1, "soft_epochs": 0}}),
            "--out", str(out)]
    assert killed_at_rename(out / "selected.yaml", *args) == -9
    assert not (out / "selected.yaml").exists()  # what the workflow and `smartbert train --config` read: not there
    assert main(["-q", *args]) == 0
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {"selection.csv", "selected.yaml"}
    assert len(_read_selection(out / "selection.csv")) == 2


def _library_writers(written: dict[str, Path], out: Path) -> dict[str, tuple[str, list, Path, set[str]]]:
    """Each multi-file writer of the workflow: (module:function, its arguments, the file killed at, every file it writes)."""
    repo = Path(__file__).resolve().parents[1]
    tables = {f"{name}.{ext}" for name in ("table1", "table3", "paper_vs_repro", "curves_auc", "curves_between", "oracle", "heads",
                                            "gates", "skip_only_gap") for ext in ("csv", "md", "tex")}
    return {
        "tables": ("smartbert.app.steps:tables",
                   [[str(written["sweep"])], [str(written["data"])], str(repo / "results" / "paper"), str(out), {"entropy": [0.1, 0.5]},
                    [], [str(written["latency"])], [str(written["oracle"])]], out / "table1.md", tables),
        "figure": ("smartbert.app.steps:figure",
                   ["fig4", [str(written["sweep"])], [str(written["data"])], ["synthetic-sentiment"], ["bert"], [], str(out / "fig4")],
                   out / "fig4.pdf", {"fig4.png", "fig4.pdf"}),
    }


@pytest.mark.parametrize("writer", ["tables", "figure"])
def test_tables_and_figures_killed_while_writing_leave_only_whole_files_and_the_rerun_completes(writer: str, written, tmp_path) -> None:
    import subprocess
    import sys

    function, args, target, every = _library_writers(written, tmp_path)[writer]
    call = ["--call", function, json.dumps(args)]
    assert killed_at_rename(target, *call) == -9
    assert not target.exists()
    left = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")}
    assert left < every  # what was written before the kill; each of those files is whole (renamed into place)
    for name in left:
        assert (tmp_path / name).stat().st_size > 0
    rerun = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, *call], capture_output=True, text=True, timeout=600,
                           env=dict(__import__("os").environ, KILL_WHEN_RENAMING_TO="/nowhere"))
    assert rerun.returncode == 0, rerun.stderr
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == every


def test_disk_full_while_saving_a_model_names_the_path_and_keeps_the_previous_model(model_dir, tmp_path, monkeypatch) -> None:
    import errno

    import smartbert.methods.checkpoint as checkpoint

    copy = damaged_copy(model_dir, tmp_path)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    loaded = load_model(copy)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(CheckpointError, match=rf"could not write the model to {copy} \(No space left on device\).*unchanged"):
        checkpoint.save_model(copy, loaded.model, loaded.method, loaded.method_config, loaded.meta.backbone,
                              loaded.model.encoder.config, loaded.tokenizer, {}, {})
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]


# ---- files one step writes for another: sweeps, latency, selection, data summaries, oracles -----

def _read_selection(path: Path) -> list[str]:
    from smartbert.reporting.report import selection_lines

    return selection_lines([path])


def _readers() -> dict:
    from smartbert.reporting.oracle_table import read_oracles
    from smartbert.reporting.results import load_data_summaries, load_latency, load_sweeps

    return {"sweep": lambda p: load_sweeps([p]), "latency": lambda p: load_latency([p]), "selection": _read_selection,
            "data": lambda p: load_data_summaries([p]), "oracle": lambda p: read_oracles([p])}


KINDS = ["sweep", "latency", "selection", "data", "oracle"]
CSV_KINDS = ["sweep", "latency", "selection"]


@pytest.fixture(scope="module")
def written(model_dir, trace_file, tmp_path_factory) -> dict[str, Path]:
    """One genuine file of each kind, written by the suite's own writers."""
    import pandas as pd

    from smartbert.training.selection import choose, write_selection

    out = tmp_path_factory.mktemp("written")
    for args in (["sweep", "--trace", str(trace_file), "--tag", "variant=default", "--out", str(out / "s.csv")],
                 ["oracle", "--trace", str(trace_file), "--tag", "variant=default", "--out", str(out / "o.json")],
                 ["data", "--task", "synthetic-sentiment", "--out", str(out / "d.json")],
                 ["latency", "--task", "synthetic-sentiment", "--models", str(model_dir), "--examples", "4", "--repeats", "1",
                  "--out", str(out / "l.csv")]):
        assert main(["-q", *args]) == 0, args
    grid = {"lam": [0.001, 0.01, 0.04]}
    table = pd.DataFrame({"lam": grid["lam"], "heldout_metric": [61.0, 60.5, 50.0], "best_epoch": [3, 3, 2],
                          "seconds": [10.0, 11.0, 9.0], "mean_layers_run": [6.0, 5.1, 0.0], "collapsed": [False, False, True],
                          "inactive": [True, False, False], "skip_rate_per_layer": [[0.0] * 6, [0.9] + [0.0] * 5, [1.0] * 6]})
    (out / "RTE").mkdir()
    write_selection(choose(table), grid, out / "RTE")
    return {"sweep": out / "s.csv", "latency": out / "l.csv", "selection": out / "RTE" / "selection.csv",
            "data": out / "d.json", "oracle": out / "o.json"}


def damaged(written: dict[str, Path], kind: str, tmp_path: Path, data: bytes) -> Path:
    """``data`` under the genuine file's name (the reader's messages name it), in a fresh folder."""
    source = written[kind]
    folder = tmp_path / source.parent.name if kind == "selection" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / source.name).write_bytes(data)
    return folder / source.name


def refused(kind: str, path: Path, match: str | None = None) -> str:
    from smartbert.core.formats import FormatError

    with pytest.raises(FormatError, match=match) as caught:
        _readers()[kind](path)
    message = str(caught.value)
    assert path.name in message and "\n" not in message, message
    return message


@pytest.mark.parametrize("kind", KINDS)
def test_every_genuine_file_reads_back(written, kind: str) -> None:
    assert _readers()[kind](written[kind]) is not None


def mid_row_cut(data: bytes, fraction: float) -> int:
    """A cut near ``fraction`` of ``data`` that does not fall on a line's end (a cut there would
    leave a shorter file of whole rows, which no reader can tell from a genuine one)."""
    cut = int(len(data) * fraction)
    while cut > 0 and (data[cut - 1:cut] == b"\n" or data[cut:cut + 1] in (b"\n", b"")):
        cut -= 1
    return cut


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97, 0.995])
@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_file_is_refused_by_name(written, tmp_path, kind: str, fraction: float) -> None:
    data = written[kind].read_bytes()
    refused(kind, damaged(written, kind, tmp_path, data[:mid_row_cut(data, fraction)]))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", KINDS)
def test_random_bytes_are_refused_by_name(written, tmp_path, kind: str, seed: int) -> None:
    refused(kind, damaged(written, kind, tmp_path, random.Random(seed).randbytes(400)))


@pytest.mark.parametrize("where", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("bad", [b"\xe9", b"\xff\xfe", b"\x80"])
@pytest.mark.parametrize("kind", KINDS)
def test_bytes_that_are_not_utf8_are_refused_by_name(written, tmp_path, kind: str, bad: bytes, where: float) -> None:
    data = written[kind].read_bytes()
    at = int(len(data) * where)
    refused(kind, damaged(written, kind, tmp_path, data[:at] + bad + data[at:]), "not UTF-8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_file_in_another_encoding_is_refused_by_name(written, tmp_path, kind: str, encoding: str) -> None:
    data = written[kind].read_text().encode(encoding)
    refused(kind, damaged(written, kind, tmp_path, data), "not UTF-8")


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_file_is_refused_by_name(written, tmp_path, kind: str) -> None:
    refused(kind, damaged(written, kind, tmp_path, b""))


def _rewritten(written: dict[str, Path], kind: str, change) -> bytes:
    """The genuine file after ``change`` (of its frame, or of its JSON document), written back."""
    import pandas as pd

    if kind in CSV_KINDS:
        frame = pd.read_csv(written[kind], dtype=str, keep_default_na=False)
        return change(frame).to_csv(index=False).encode()
    document = json.loads(written[kind].read_text())
    change(document)
    return json.dumps(document).encode()


def _required(kind: str) -> tuple[str, ...]:
    from smartbert.core import formats

    return {"sweep": formats.SWEEP, "latency": formats.LATENCY, "selection": formats.SELECTION,
            "data": formats.DATA_SUMMARY, "oracle": formats.ORACLE}[kind].required


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_lacking_a_required_field_is_refused_by_name(written, tmp_path, kind: str) -> None:
    for field in _required(kind):
        drop = (lambda f: f.drop(columns=[field])) if kind in CSV_KINDS else (lambda d: d.pop(field))
        refused(kind, damaged(written, kind, tmp_path, _rewritten(written, kind, drop)), rf"lacks \w+\(s\) \['{field}'\]")


@pytest.mark.parametrize("version", [None, "", "0", "2", "1.5", "x"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_or_unknown_format_version_is_refused_by_name(written, tmp_path, kind: str, version) -> None:
    def change(target):
        if version is None:
            return target.drop(columns=["format_version"]) if kind in CSV_KINDS else target.pop("format_version")
        if kind in CSV_KINDS:
            return target.assign(format_version=version)
        target["format_version"] = version
    refused(kind, damaged(written, kind, tmp_path, _rewritten(written, kind, change)), "format_version")


@pytest.mark.parametrize("kind", KINDS)
def test_an_extra_field_is_ignored(written, tmp_path, kind: str) -> None:
    """Forward compatible: a field this suite does not know changes nothing of what it reads."""
    def extra(target):
        if kind in CSV_KINDS:
            return target.assign(comment="added by hand")
        target["comment"] = "added by hand"
    path = damaged(written, kind, tmp_path, _rewritten(written, kind, extra))
    if kind in CSV_KINDS[:2]:
        before, after = _readers()[kind](written[kind]), _readers()[kind](path)
        assert after.drop(columns=["comment", "file"], errors="ignore").equals(before.drop(columns=["file"], errors="ignore"))
    else:
        assert _readers()[kind](path) is not None


NUMERIC_DAMAGE = ["", "abc", "1e999", "-1e999", "nan-ish", "1,5"]


@pytest.mark.parametrize("value", NUMERIC_DAMAGE + ["1e30", "-1e30"])
@pytest.mark.parametrize("kind", CSV_KINDS)
def test_a_bad_number_in_a_required_column_is_refused_by_name(written, tmp_path, kind: str, value: str) -> None:
    from smartbert.core import formats

    fmt = {"sweep": formats.SWEEP, "latency": formats.LATENCY, "selection": formats.SELECTION}[kind]
    bounded = {column for column, _, _ in fmt.bounds}
    column = next(c for c in fmt.required if c in fmt.numeric and (c in bounded or not value.startswith(("1e30", "-1e30"))))
    path = damaged(written, kind, tmp_path, _rewritten(written, kind, lambda f: f.assign(**{column: value})))
    refused(kind, path, column)


@pytest.mark.parametrize("kind", CSV_KINDS)
def test_a_text_column_swapped_with_a_numeric_one_is_refused_by_name(written, tmp_path, kind: str) -> None:
    from smartbert.core import formats

    fmt = {"sweep": formats.SWEEP, "latency": formats.LATENCY, "selection": formats.SELECTION}[kind]
    text_columns = {"sweep": "task", "latency": "method", "selection": "skip_rate_per_layer"}
    number = next(c for c in fmt.required if c in fmt.numeric)
    swap = {number: text_columns[kind], text_columns[kind]: number}
    refused(kind, damaged(written, kind, tmp_path, _rewritten(written, kind, lambda f: f.rename(columns=swap))), number)


@pytest.mark.parametrize("kind", ["data", "oracle"])
def test_a_json_field_of_the_wrong_type_is_refused_by_name(written, tmp_path, kind: str) -> None:
    from smartbert.core import formats

    for key, expected in {"data": formats.DATA_SUMMARY, "oracle": formats.ORACLE}[kind].types:
        for wrong in ([1, 2], "text", 3, None, {"a": 1}):
            if isinstance(wrong, expected):
                continue
            path = damaged(written, kind, tmp_path, _rewritten(written, kind, lambda d: d.__setitem__(key, wrong)))
            refused(kind, path, key)


@pytest.mark.parametrize("value", [None, "52.7", float("inf"), True, [52.7]])
def test_a_data_summary_without_a_usable_majority_metric_is_refused_by_name(written, tmp_path, value) -> None:
    path = damaged(written, "data", tmp_path, _rewritten(written, "data", lambda d: d["majority_class"].__setitem__("metric", value)))
    refused("data", path, "majority_class.metric")


@pytest.mark.parametrize("content", [b"[1, 2]", b"null", b'"text"', b"3"])
@pytest.mark.parametrize("kind", ["data", "oracle"])
def test_json_that_is_not_an_object_is_refused_by_name(written, tmp_path, kind: str, content: bytes) -> None:
    refused(kind, damaged(written, kind, tmp_path, content), "not an object")


@pytest.mark.parametrize("selected", [["False"] * 3, ["True"] * 3, ["yes", "no", "no"]])
def test_a_selection_without_exactly_one_chosen_point_is_refused_by_name(written, tmp_path, selected) -> None:
    path = damaged(written, "selection", tmp_path, _rewritten(written, "selection", lambda f: f.assign(selected=selected)))
    refused("selection", path, "exactly one")


@pytest.mark.parametrize("reader, wrong", [("sweep", "latency"), ("latency", "sweep"), ("sweep", "selection"),
                                           ("selection", "latency"), ("data", "oracle"), ("oracle", "data")])
def test_a_file_of_another_kind_is_refused_by_name(written, tmp_path, reader: str, wrong: str) -> None:
    refused(reader, damaged(written, reader, tmp_path, written[wrong].read_bytes()), "lacks")


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_file_names_its_writer(tmp_path, kind: str) -> None:
    refused(kind, tmp_path / "RTE" / "absent.csv", "not found; write it with `smartbert")


@pytest.mark.parametrize("version", [None, 0, 2])
def test_a_trace_of_another_format_version_is_refused_by_name(trace_file, tmp_path, version) -> None:
    with np.load(trace_file, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta.pop("format_version") if version is None else meta.__setitem__("format_version", version)
    np.savez(tmp_path / "t.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    with pytest.raises(SmartBertError, match=r"t\.npz .*format_version"):
        Trace.load(tmp_path / "t.npz")


@pytest.mark.parametrize("change, match", [(lambda m: m.pop("num_layers"), r"lacks meta fields \['num_layers'\]"),
                                           (lambda m: m.update(colour="blue"), r"meta fields \['colour'\] this suite does not know"),
                                           (lambda m: m.pop("head_kind") and m.update(x=1), r"\['x'\] .* lacks \['head_kind'\]")])
def test_a_trace_meta_with_unknown_or_missing_fields_is_named(trace_file, tmp_path, change, match) -> None:
    with np.load(trace_file, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    np.savez(tmp_path / "t.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    with pytest.raises(SmartBertError, match=match):
        Trace.load(tmp_path / "t.npz")


@pytest.mark.parametrize("content", [b"", b"s\th:m:s\n", b"x\ty\n1\t2\n", b"\xff\xfe", b"s\n"])
def test_a_damaged_runtime_benchmark_is_refused_by_name(tmp_path, content: bytes) -> None:
    from smartbert.reporting.report import runtime_table

    path = tmp_path / "runtime" / "train" / "RTE.tsv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(SmartBertError, match=r"RTE\.tsv is not a Snakemake benchmark file"):
        runtime_table([str(path)])


# ---- resume checkpoints: a damaged one is ignored (logged) and the stage starts afresh -------------

@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory) -> Path:
    """A real mid-training checkpoint (after epoch 1 of 2) of a tiny BERT."""
    from smartbert.data.encode import encode
    from smartbert.data.tasks import get_task
    from smartbert.methods.registry import get_method
    from smartbert.training.resume import ResumeDir
    from smartbert.training.trainer import train_stage

    import torch

    from conftest import tiny_bert

    data = encode(load_split("synthetic-sentiment", "train")[:32], backends_tokenizer())
    method = get_method("bert")
    torch.manual_seed(0)
    model = method.build(tiny_bert(0), 2, method.config_class())
    stage = method.stages(method.config_class())[0]
    folder = tmp_path_factory.mktemp("resume")
    config = TrainConfig(batch_size=16, epochs=2, learning_rate=1e-3, seed=1)

    class Stop(Exception):
        pass

    def loss(model, batch, epoch):
        if epoch == 1:
            raise Stop
        return stage.loss(model, batch, epoch)
    import dataclasses

    with pytest.raises(Stop):
        train_stage(model, dataclasses.replace(stage, loss=loss), data, data, get_task("synthetic-sentiment"), config,
                    progress=False, resume=ResumeDir(folder, key="k"))
    assert ResumeDir(folder, key="k").load(stage.name)["epoch"] == 1
    return folder


def backends_tokenizer():
    from smartbert.modeling import backbones

    return backbones.load_tokenizer("tiny")


def _damaged_resume(checkpoint_dir: Path, tmp_path: Path, change) -> "object":
    import shutil as _shutil

    from smartbert.training.resume import ResumeDir

    folder = tmp_path / "resume"
    _shutil.copytree(checkpoint_dir, folder)
    (checkpoint,) = folder.glob("*.pt")
    change(checkpoint)
    return ResumeDir(folder, key="k"), checkpoint.stem


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.2, 0.5, 0.8, 0.99])
def test_a_truncated_resume_checkpoint_is_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, fraction: float) -> None:
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path,
                                    lambda p: p.write_bytes(p.read_bytes()[:int(p.stat().st_size * fraction)]))
    assert resume.load(stage) is None and "ignoring unreadable checkpoint" in caplog.text


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_as_a_resume_checkpoint_are_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, seed: int) -> None:
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, lambda p: p.write_bytes(random.Random(seed).randbytes(500)))
    assert resume.load(stage) is None and "ignoring unreadable checkpoint" in caplog.text


@pytest.mark.parametrize("drop", ["model", "rng", "report", "optimizer", "scheduler", "best_state", "step", "epoch"])
def test_a_resume_checkpoint_lacking_a_part_is_ignored_with_a_warning(checkpoint_dir, tmp_path, caplog, drop: str) -> None:
    import torch

    def change(path):
        state = torch.load(path, weights_only=True)
        del state[drop]
        torch.save(state, path)
    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, change)
    assert resume.load(stage) is None and f"lacks ['{drop}']" in caplog.text


@pytest.mark.parametrize("content", [[1, 2], "text", {"key": "other"}, None])
def test_a_foreign_resume_checkpoint_is_ignored(checkpoint_dir, tmp_path, content) -> None:
    import torch

    resume, stage = _damaged_resume(checkpoint_dir, tmp_path, lambda p: torch.save(content, p))
    assert resume.load(stage) is None


def test_a_training_beside_a_damaged_checkpoint_starts_afresh_and_finishes(tmp_path) -> None:
    out = tmp_path / "m"
    args = ["-q", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
            "--max-train-examples", "32", "--out", str(out)]
    from smartbert.training.resume import folder_beside

    folder = folder_beside(out)
    folder.mkdir(parents=True)
    (folder / "train.pt").write_bytes(b"damaged")
    assert main(args) == 0 and (out / META_FILE).is_file()


# ---- a backbone directory that is damaged or incomplete ------------------------------------------

@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory) -> Path:
    from smartbert.modeling import backbones

    folder = tmp_path_factory.mktemp("backbone") / "bert"
    backbones.load_backbone("tiny").save_pretrained(folder)
    backbones.load_tokenizer("tiny").save_pretrained(folder)
    return folder


def _damaged_backbone(backbone_dir: Path, tmp_path: Path, name: str, data: bytes | None) -> Path:
    copy = tmp_path / "bert"
    shutil.copytree(backbone_dir, copy)
    (copy / name).unlink() if data is None else (copy / name).write_bytes(data)
    return copy


def _load_everything(path: Path) -> None:
    from smartbert.modeling import backbones

    backbones.load_config(str(path))
    backbones.load_tokenizer(str(path))
    backbones.load_backbone(str(path))


def test_the_saved_backbone_loads(backbone_dir) -> None:
    _load_everything(backbone_dir)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7, 0.95])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_a_truncated_backbone_file_is_named(backbone_dir, tmp_path, name: str, fraction: float) -> None:
    from smartbert.core.errors import DataUnavailableError

    data = (backbone_dir / name).read_bytes()
    copy = _damaged_backbone(backbone_dir, tmp_path, name, data[:int(len(data) * fraction)])
    with pytest.raises(DataUnavailableError, match=r"is damaged or incomplete"):
        _load_everything(copy)


@pytest.mark.parametrize("data", [None, b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_missing_or_foreign_backbone_file_is_named(backbone_dir, tmp_path, name: str, data) -> None:
    from smartbert.core.errors import DataUnavailableError

    with pytest.raises(DataUnavailableError, match=r"is damaged or incomplete"):
        _load_everything(_damaged_backbone(backbone_dir, tmp_path, name, data))
