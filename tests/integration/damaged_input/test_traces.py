"""Truncated, foreign or incomplete traces are named in one line."""

from __future__ import annotations

import random

import numpy as np
import pytest

from smartbert.app.cli import main
from smartbert.core.errors import SmartBertError
from smartbert.replay.trace import Trace

pytestmark = pytest.mark.cli  # the CLI in this process: on the CPU (tests/conftest.py)

# ---- traces -------------------------------------------------------------------------------------

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


