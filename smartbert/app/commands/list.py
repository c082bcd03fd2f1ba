"""`smartbert list`: known tasks, methods, backbones and exit policies."""

from __future__ import annotations

import argparse

from smartbert.data.tasks import TASKS
from smartbert.methods.registry import get_method, method_names
from smartbert.replay.policies import POLICIES


def run(args: argparse.Namespace) -> None:
    print("tasks:    ", ", ".join(TASKS))
    print("methods:  ", ", ".join(f"{n} ({get_method(n).paper})" for n in method_names()))
    print("backbones: minilm-l6 (bundled, offline), tiny (random, tests), any BERT hub id or local directory")
    print("policies: ", ", ".join(POLICIES))
