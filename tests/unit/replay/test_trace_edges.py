"""Traces at their edges (issue 31, item 4: tests that kill mutmut's survivors): gate counts of a
model without gates, the gates' skip statistics by hand, a trace meta's fields checked by name and
a damaged or foreign file refused with a message that names it and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smartbert.core.errors import SmartBertError
from smartbert.core.formats import TRACE, VERSION_FIELD
from smartbert.replay.policies import EntropyExit
from smartbert.replay.trace import TraceMeta, replay, resolve_exits, skip_statistics
from tests.helpers import trace_from_predictions

FIX = "give a file written by `smartbert trace`, or rerun it"
REQUIRED = {"num_layers": 4, "num_labels": 2, "head_kind": "exit_classifier", "exit_layers": [1, 2, 3, 4]}


def test_a_model_without_gates_evaluates_none() -> None:
    trace = trace_from_predictions([0, 1], [[0, 0, 0], [1, 1, 1]], gates=False)
    result = replay(trace, EntropyExit(0.0))
    assert result.exit_layer.tolist() == [3, 3] and result.gates.tolist() == [0, 0]
    gated = trace_from_predictions([0, 1], [[0, 0, 0], [1, 1, 1]], gates=True)
    assert replay(gated, EntropyExit(0.0)).gates.tolist() == [3, 3]


def test_resolve_exits_takes_the_first_firing_evaluated_head_and_counts_up_to_it() -> None:
    ran = np.array([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    evaluated = np.array([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    logits = np.zeros((2, 4, 3))
    logits[0, 2] = [0.0, 0.0, 5.0]
    logits[1, 3] = [0.0, 5.0, 0.0]
    mask = np.array([[0, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)  # ex0's layer 2 fires but has no head
    result = resolve_exits(mask, ran, evaluated, logits, has_gates=True)
    assert result.exit_layer.tolist() == [3, 4] and result.prediction.tolist() == [2, 1]
    assert result.layers_run.tolist() == [2, 4] and result.heads.tolist() == [2, 4] and result.gates.tolist() == [3, 4]
    assert mask.tolist() == [[0, 1, 1, 1], [0, 0, 0, 0]]  # the caller's mask is left alone


def test_skip_statistics_by_hand() -> None:
    """ran: all / layer 2 skipped / every layer skipped. Per layer the share not run; layers run 4, 3, 0."""
    trace = trace_from_predictions([0, 0, 0], [[0] * 4] * 3, ran=[[1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 0, 0]], gates=True)
    stats = skip_statistics(trace)
    assert stats["skip_rate_per_layer"] == [0.3333, 0.6667, 0.3333, 0.3333]
    assert stats["layers_run_histogram"] == [1, 0, 0, 1, 1]
    assert stats["mean_layers_run"] == pytest.approx(7 / 3)
    assert stats["always_skipped_layers"] == []
    assert stats["collapsed"] is False and stats["inactive"] is False


def test_collapsed_when_half_the_layers_are_always_skipped() -> None:
    """Layers 1 and 2 skipped by 99 of 100 examples (>= 99%: always) -> half of 4 layers: collapsed."""
    ran = [[0, 0, 1, 1]] * 99 + [[1, 1, 1, 1]]
    trace = trace_from_predictions([0] * 100, [[0] * 4] * 100, ran=ran, gates=True)
    stats = skip_statistics(trace)
    assert stats["always_skipped_layers"] == [1, 2] and stats["collapsed"] is True
    assert stats["mean_layers_run"] == pytest.approx(2.02)
    assert skip_statistics(trace, always=0.995)["always_skipped_layers"] == []  # 99% is not 99.5%
    one_layer = trace_from_predictions([0] * 100, [[0] * 4] * 100, ran=[[0, 1, 1, 1]] * 99 + [[1, 1, 1, 1]], gates=True)
    assert skip_statistics(one_layer)["always_skipped_layers"] == [1] and skip_statistics(one_layer)["collapsed"] is False


def test_collapsed_when_under_one_layer_runs_on_average() -> None:
    """Each of 10 examples runs at most one layer, spread over the 4 (no layer always skipped): 0.9 on average."""
    ran = [[int(j == i % 4) for j in range(4)] for i in range(9)] + [[0, 0, 0, 0]]
    trace = trace_from_predictions([0] * 10, [[0] * 4] * 10, ran=ran, gates=True)
    stats = skip_statistics(trace)
    assert stats["always_skipped_layers"] == [] and stats["mean_layers_run"] == pytest.approx(0.9)
    assert stats["collapsed"] is True and stats["inactive"] is False


def test_inactive_when_no_gate_ever_skips() -> None:
    trace = trace_from_predictions([0, 1], [[0] * 3, [1] * 3], gates=True)
    stats = skip_statistics(trace)
    assert stats["inactive"] is True and stats["collapsed"] is False
    assert stats["skip_rate_per_layer"] == [0.0, 0.0, 0.0] and stats["layers_run_histogram"] == [0, 0, 0, 2]


def test_meta_needs_only_its_required_fields() -> None:
    meta = TraceMeta.from_document(TRACE.stamp_document(REQUIRED), "t.npz")
    assert meta == TraceMeta(**REQUIRED)


@pytest.mark.parametrize("extra, drop, message", [
    ({"colour": "red"}, None, r"t\.npz has meta fields \['colour'\] this suite does not know;"),
    ({}, "head_kind", r"t\.npz lacks meta fields \['head_kind'\];"),
    ({"colour": "red"}, "num_layers", r"t\.npz has meta fields \['colour'\] this suite does not know and lacks \['num_layers'\]"),
])
def test_meta_names_unknown_and_missing_fields(extra: dict, drop: str | None, message: str) -> None:
    document = {k: v for k, v in {**REQUIRED, **extra}.items() if k != drop}
    with pytest.raises(SmartBertError, match=message):
        TraceMeta.from_document(TRACE.stamp_document(document), "t.npz")


def test_meta_without_a_version_or_not_an_object_is_refused_by_name() -> None:
    with pytest.raises(SmartBertError, match=rf"t\.npz has no {VERSION_FIELD}"):
        TraceMeta.from_document(dict(REQUIRED), "t.npz")
    with pytest.raises(SmartBertError, match=r"t\.npz is not a readable trace \(its meta is not a JSON object\); " + FIX.replace("`", ".")):
        TraceMeta.from_document([1, 2], "t.npz")


def _arrays() -> dict[str, np.ndarray]:
    trace = trace_from_predictions([0], [[0, 0]])
    return {"labels": trace.labels, "ran": trace.ran, "evaluated": trace.evaluated, "logits": trace.logits,
            "gate_prob": trace.gate_prob, "lengths": trace.lengths}


def test_damaged_or_foreign_files_are_refused_with_the_fix(tmp_path: Path) -> None:
    from smartbert.replay.trace import Trace

    with pytest.raises(SmartBertError, match=rf"trace {tmp_path / 'none.npz'} not found; " + FIX.replace("`", ".")):
        Trace.load(tmp_path / "none.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(SmartBertError, match=r"is not a readable trace \(a single array, not a trace archive\); give a file"):
        Trace.load(tmp_path / "single.npy")
    arrays = _arrays()
    del arrays["gate_prob"]
    np.savez(tmp_path / "short.npz", **arrays, meta=np.array("{}"))
    with pytest.raises(SmartBertError, match=r"short\.npz is not a readable trace \(it lacks \['gate_prob'\]\); give a file"):
        Trace.load(tmp_path / "short.npz")
    meta = json.dumps(TRACE.stamp_document({**REQUIRED, "colour": "red"}))
    np.savez(tmp_path / "foreign.npz", **_arrays(), meta=np.array(meta))
    with pytest.raises(SmartBertError, match=r"foreign\.npz has meta fields \['colour'\]"):
        Trace.load(tmp_path / "foreign.npz")


def test_a_trace_never_unpickles(tmp_path: Path) -> None:
    """An object array in the archive would run arbitrary code on load: refused, not unpickled."""
    from smartbert.replay.trace import Trace

    arrays = _arrays()
    arrays["labels"] = np.array([{"not": "a label"}], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays, meta=np.array(json.dumps(TRACE.stamp_document(REQUIRED))))
    with pytest.raises(SmartBertError, match="is not a readable trace"):
        Trace.load(tmp_path / "pickled.npz")


def test_collapse_bars_exactly() -> None:
    """One layer run on average is not collapse (under one is); 2 of 6 layers always skipped is not
    half; the histogram always spans 0..L layers run."""
    one_each = [[int(j == i) for j in range(4)] for i in range(4)]  # each example runs one layer, each layer once
    stats = skip_statistics(trace_from_predictions([0] * 4, [[0] * 4] * 4, ran=one_each, gates=True))
    assert stats["mean_layers_run"] == 1.0 and stats["always_skipped_layers"] == [] and stats["collapsed"] is False
    assert stats["layers_run_histogram"] == [0, 4, 0, 0, 0]
    one_and_a_half = [[1, 0, 0, 0], [0, 1, 1, 0]]
    assert skip_statistics(trace_from_predictions([0] * 2, [[0] * 4] * 2, ran=one_and_a_half, gates=True))["collapsed"] is False
    two_of_six = trace_from_predictions([0] * 3, [[0] * 6] * 3, ran=[[0, 0, 1, 1, 1, 1]] * 3, gates=True)
    stats = skip_statistics(two_of_six)
    assert stats["always_skipped_layers"] == [1, 2] and stats["collapsed"] is False
    assert stats["layers_run_histogram"] == [0, 0, 0, 0, 3, 0, 0]
