"""The one merge of config layers (smartbert.core.config.merge_layers): the workflow's per-training
`--config` and the CLI's `--config` files and flags both go through it."""

from __future__ import annotations

import json

import pytest

from smartbert.app.cli import build_parser
from smartbert.app.commands.configs import train_and_method_configs
from smartbert.core.config import merge_layers
from smartbert.core.errors import SmartBertError
from smartbert.methods.registry import get_method


def test_later_layers_win_key_by_key_within_a_section() -> None:
    merged = merge_layers([("profile", {"train": {"epochs": 3, "batch_size": 16}}),
                           ("methods.smartbert", {"train": {"epochs": 5}, "method": {"lam": 0.01, "eta1": 0.0}}),
                           ("variants.soft", {"method": {"gate_mode": "soft"}}),
                           ("selected point", {"method": {"lam": 0.001}})])
    assert merged == {"train": {"epochs": 5, "batch_size": 16}, "method": {"lam": 0.001, "eta1": 0.0, "gate_mode": "soft"}}


def test_an_unknown_section_is_named_with_its_source() -> None:
    with pytest.raises(SmartBertError, match=r"unknown top-level key\(s\) \['trian'\] in my.yaml; known: \['train', 'method'\]"):
        merge_layers([("my.yaml", {"trian": {"epochs": 1}})])


def test_the_cli_merges_files_then_inline_then_flags(tmp_path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text("train: {epochs: 2, learning_rate: 1.0e-4}\nmethod: {lam: 0.01}\n")
    inline = json.dumps({"train": {"epochs": 7}, "method": {"lam": 0.001}})
    args = build_parser().parse_args(["train", "--task", "RTE", "--method", "smartbert", "--out", "x", "--config", str(first),
                                      "--config", inline, "--learning-rate", "3e-5"])
    train, method = train_and_method_configs(args, get_method("smartbert"))
    assert (train.epochs, train.learning_rate, method.lam) == (7, 3e-5, 0.001)
