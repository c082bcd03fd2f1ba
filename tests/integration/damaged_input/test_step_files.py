"""Files one step writes for another (sweeps, latency, selection, data summaries, oracles, runtime) read back, and damaged ones are refused by name."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from smartbert.core.errors import SmartBertError
from smartbert.replay.trace import Trace
from tests.integration.damaged_input.support import (
    CSV_KINDS,
    KINDS,
    _readers,
    damaged,
    refused,
    selection_lines_of,
)

# ---- files one step writes for another: sweeps, latency, selection, data summaries, oracles -----

@pytest.mark.parametrize("kind", KINDS)
def test_every_genuine_file_reads_back_as_written(written, kind: str) -> None:
    """What each reader gives is what the file holds: pandas' read of a CSV (less its version column,
    plus the sweeps' ``file``), json.load of a JSON document, one selection line per row of the table."""
    import pandas as pd

    path = written[kind]
    read = _readers()[kind](path)
    if kind in ("sweep", "latency"):
        hashes = {"config_hash": str, "experiment_hash": str, "commit": str} if kind == "sweep" else None
        expected = pd.read_csv(path, dtype=hashes).drop(columns=["format_version"])
        pd.testing.assert_frame_equal(read, expected.assign(file=str(path)) if kind == "sweep" else expected)
    elif kind == "selection":
        assert read == selection_lines_of(path)
    elif kind == "data":
        document = json.loads(path.read_text())
        assert read == {document["task"]: document}
    else:
        assert read == [json.loads(path.read_text())]


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
        drop = (lambda f, field=field: f.drop(columns=[field])) if kind in CSV_KINDS else (lambda d, field=field: d.pop(field))
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
    before = _readers()[kind](damaged(written, kind, tmp_path / "plain", _rewritten(written, kind, lambda target: target)))
    after = _readers()[kind](damaged(written, kind, tmp_path / "extra", _rewritten(written, kind, extra)))
    if kind in CSV_KINDS[:2]:
        assert after.drop(columns=["comment", "file"], errors="ignore").equals(before.drop(columns=["file"], errors="ignore"))
    elif kind == "selection":  # an unknown column is one more grid key there: shown beside the point, nothing else changes
        assert all(", comment=added by hand" in line for line in after)
        assert [line.replace(", comment=added by hand", "") for line in after] == before
    elif kind == "data":
        assert {task: _without_comment(summary) for task, summary in after.items()} == before
    else:
        assert [_without_comment(document) for document in after] == before


def _without_comment(document: dict) -> dict:
    assert document["comment"] == "added by hand"
    return {key: value for key, value in document.items() if key != "comment"}


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
            path = damaged(written, kind, tmp_path, _rewritten(written, kind, lambda d, key=key, wrong=wrong: d.__setitem__(key, wrong)))
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


