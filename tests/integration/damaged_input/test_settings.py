"""Out-of-range settings, flags and config files are refused in one line before any work."""

from __future__ import annotations

import json

import pytest

from smartbert.app.cli import main
from smartbert.core.errors import SmartBertError
from smartbert.training.config import TrainConfig

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)

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


