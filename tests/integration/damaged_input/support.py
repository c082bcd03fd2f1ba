"""What the damaged-input tests share: bad-file makers, the kill-at-rename harness, the readers by kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def glue_with(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "RTE").mkdir(parents=True, exist_ok=True)
    (tmp_path / "RTE" / "dev.tsv").write_bytes(data)
    return tmp_path


RTE_DEV = ("index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tA person rests.\tentailment\n"
           "1\tA man sleeps.\tNobody sleeps.\tnot_entailment\n2\tCafé au lait.\tA drink.\tentailment\n").encode()


OFFSETS = [0, 1, 5, 17, 40, 60, 90, len(RTE_DEV) - 3]


def damaged_copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    return copy


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
        "sweep": ["sweep", "--trace", str(trace_file), "--tag", "variant=default", "--out", str(out / "s.csv")],  # readers need a variant
        "oracle": ["oracle", "--trace", str(trace_file), "--out", str(out / "o.json")],
        "latency": ["latency", "--task", "synthetic-sentiment", "--models", str(model_dir), "--examples", "4", "--repeats", "1",
                    "--out", str(out / "l.csv")],
        "data": ["data", "--task", "synthetic-sentiment", "--out", str(out / "d.json")],
        "train": ["train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
                  "--max-train-examples", "32", "--out", str(out / "m")],
    }


def _read_selection(path: Path) -> list[str]:
    from smartbert.reporting.report import selection_lines

    return selection_lines([path])


def _readers() -> dict:
    from smartbert.reporting.oracle_table import read_oracles
    from smartbert.reporting.results import (
        load_data_summaries,
        load_latency,
        load_sweeps,
    )

    return {"sweep": lambda p: load_sweeps([p]), "latency": lambda p: load_latency([p]), "selection": _read_selection,
            "data": lambda p: load_data_summaries([p]), "oracle": lambda p: read_oracles([p])}


KINDS = ["sweep", "latency", "selection", "data", "oracle"]


CSV_KINDS = ["sweep", "latency", "selection"]


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


def selection_lines_of(path: Path, key: str = "lam") -> list[str]:
    """The report lines a selection table at ``path`` (grid ``key``) must give, from pandas' read of it: the chosen row first, then each rejected one with its reason."""
    import pandas as pd

    table = pd.read_csv(path)
    every_collapsed = table["collapsed"].all()

    def scores(row: pd.Series) -> str:
        return f"held-out {row['heldout_metric']:.1f}, {row['mean_layers_run']:.2f} layers run"

    def reason(row: pd.Series) -> str:
        if every_collapsed:
            return "every point collapsed; this one scored lower or ran more layers"
        return "collapsed gates" if row["collapsed"] else "dearer or worse" if row["within_tolerance"] else "outside the tolerance"

    (chosen,) = [row for _, row in table.iterrows() if row["selected"]]
    flags = (" **inactive: its gates skip nothing, so skipping is not tested on this task**" if chosen["inactive"] else "") + (
        " **collapsed (every point collapsed)**" if chosen["collapsed"] else "")
    return ([f"- {path.parent.name}: chose {key}={chosen[key]:g} ({scores(chosen)}){flags}"]
            + [f"  - rejected {key}={row[key]:g}: {scores(row)}: {reason(row)}" for _, row in table.iterrows() if not row["selected"]])
