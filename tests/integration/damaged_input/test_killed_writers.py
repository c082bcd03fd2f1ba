"""A writer killed while writing leaves nothing that looks finished, and the rerun completes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartbert.app.cli import main
from smartbert.core.errors import CheckpointError
from smartbert.methods.checkpoint import load_model
from tests.helpers import REPO
from tests.integration.damaged_input.support import (
    KILL_AT_RENAME,
    _read_selection,
    damaged_copy,
    killed_at_rename,
    selection_lines_of,
    writer_commands,
)

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)

# ---- faults while writing -----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["trace", "sweep", "oracle", "latency", "data", "train"])
def test_a_writer_killed_while_writing_leaves_nothing_that_looks_finished_and_the_rerun_completes(
        command: str, model_dir, trace_file, tmp_path) -> None:
    args = writer_commands(model_dir, trace_file, tmp_path)[command]
    target = Path(args[args.index("--out") + 1])
    assert killed_at_rename(target, *args) == -9
    assert not target.exists()
    (leftover,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.name.startswith(f".{target.name}.")]  # hidden
    finished = _content(command, leftover)  # the killed run's whole output, all but renamed into place
    assert main(["-q", *args]) == 0
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {target.name}
    assert _content(command, target) == finished


def _content(command: str, path: Path) -> dict:
    """What the output of `smartbert COMMAND` at ``path`` holds, read back by the suite's own readers
    (which refuse a half-written file), less what its run measured (times, threads, device)."""
    import dataclasses

    import numpy as np

    from smartbert.methods.checkpoint import WEIGHTS_FILE, read_meta
    from smartbert.replay.trace import Trace
    from tests.integration.damaged_input.support import _readers

    if command == "trace":
        trace = Trace.load(path)
        arrays = {name: np.asarray(getattr(trace, name)).tobytes() for name in ("labels", "ran", "evaluated", "logits", "gate_prob",
                                                                                "lengths")}
        return {**arrays, "meta": {**dataclasses.asdict(trace.meta), "provenance": None}}
    if command == "train":
        from safetensors.torch import load_file

        weights = {name: tensor.numpy().tobytes() for name, tensor in load_file(path / WEIGHTS_FILE).items()}
        return {"meta": {**dataclasses.asdict(read_meta(path)), "report": None}, "weights": weights}
    read = _readers()[command](path)
    if command == "sweep":
        return read.drop(columns=["file"]).to_dict("list")
    if command == "latency":
        return read.drop(columns=["ms_per_example", "p50_ms", "p90_ms", "p99_ms", "measured_speedup", "measured_over_flops",
                                  "threads", "device"]).to_dict("list")
    return {"read": read}


def test_selection_killed_while_writing_its_choice_leaves_no_choice_and_the_rerun_completes(tmp_path) -> None:
    out = tmp_path / "RTE"
    args = ["select", "--task", "synthetic-sentiment", "--method", "smartbert", "--backbone", "tiny", "--grid", "lam=0.01,0.1",
            "--config", json.dumps({"train": {"epochs": 1, "max_train_examples": 48}, "method": {"stage1_epochs": 1, "soft_epochs": 0}}),
            "--out", str(out)]
    import pandas as pd
    import yaml

    assert killed_at_rename(out / "selected.yaml", *args) == -9
    assert not (out / "selected.yaml").exists()  # what the workflow and `smartbert train --config` read: not there
    (leftover,) = out.glob(".selected.yaml.*.tmp")
    killed_choice, killed_table = yaml.safe_load(leftover.read_text()), pd.read_csv(out / "selection.csv").drop(columns=["seconds"])
    assert main(["-q", *args]) == 0
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {"selection.csv", "selected.yaml"}
    table = pd.read_csv(out / "selection.csv")
    assert table.drop(columns=["seconds"]).equals(killed_table) and len(table) == 2
    assert yaml.safe_load((out / "selected.yaml").read_text()) == {"method": {"lam": table.loc[table["selected"], "lam"].item()}} == killed_choice
    assert _read_selection(out / "selection.csv") == selection_lines_of(out / "selection.csv")


def _library_writers(written: dict[str, Path], out: Path) -> dict[str, tuple[str, list, Path, set[str]]]:
    """Each multi-file writer of the workflow: (module:function, its arguments, the file killed at, every file it writes)."""
    repo = REPO
    tables = {f"{name}.{ext}" for name in ("table1", "table3", "paper_vs_repro", "curves_auc", "curves_between", "oracle", "heads",
                                            "gates", "skip_only_gap", "guaranteed") for ext in ("csv", "md", "tex")}
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
    left = {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.name.startswith(".")}  # written before the kill
    assert left and set(left) < every
    rerun = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, *call], capture_output=True, text=True, timeout=600,
                           env=dict(__import__("os").environ, KILL_WHEN_RENAMING_TO="/nowhere"))
    assert rerun.returncode == 0, rerun.stderr
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == every
    assert {name: (tmp_path / name).read_bytes() for name in left} == left  # each file the kill left was whole: as the full run writes it


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


