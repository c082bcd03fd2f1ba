"""The configs of a training command (train, select): ``--config`` layers, then the flags."""

from __future__ import annotations

import argparse

from smartbert.app.cli import SELECT_FLAGS, TRAIN_FLAGS
from smartbert.core.config import from_dict, load_inline_or_file, merge_layers
from smartbert.methods.registry import Method, MethodConfig
from smartbert.training.config import TrainConfig


def train_and_method_configs(args: argparse.Namespace, method: Method) -> tuple[TrainConfig, MethodConfig]:
    """(TrainConfig, method config) from --config YAML and the command-line overrides."""
    flags = {name: value for name in dict.fromkeys(TRAIN_FLAGS + SELECT_FLAGS) if (value := getattr(args, name, None)) is not None}
    document = merge_layers([*((path, load_inline_or_file(path)) for path in args.config), ("the command line", {"train": flags})])
    return (from_dict(TrainConfig, document["train"], "train config"),
            from_dict(method.config_class, document["method"], f"method config of {method.name}"))
