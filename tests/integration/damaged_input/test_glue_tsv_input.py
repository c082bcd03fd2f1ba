"""GLUE TSV files that are not UTF-8, in another encoding, truncated or random fail with one line naming the file."""

from __future__ import annotations

import random

import pytest

from smartbert.core.errors import DataFormatError, SmartBertError
from smartbert.data.load import load_split
from smartbert.data.tasks import Example
from tests.integration.damaged_input.support import OFFSETS, RTE_DEV, glue_with


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


LINE_ENDS = [i for i, byte in enumerate(RTE_DEV) if byte == ord("\n")]


@pytest.mark.parametrize("cut", sorted({*range(0, len(RTE_DEV), 7), *LINE_ENDS, *(i + 1 for i in LINE_ENDS)}))
def test_a_truncated_tsv_parses_its_whole_rows_or_fails_cleanly(tmp_path, cut: int) -> None:
    try:
        examples = load_split("RTE", "dev", glue_dir=glue_with(tmp_path, RTE_DEV[:cut]))
    except SmartBertError as error:
        assert "dev.tsv" in str(error) and "\n" not in str(error)
    else:  # a cut at a line's end: the whole rows before it, as the file holds them
        rows = [line.split("\t") for line in RTE_DEV[:cut].decode().rstrip("\n").split("\n")[1:]]
        assert examples == [Example(a, b, ["entailment", "not_entailment"].index(label)) for _, a, b, label in rows]


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_as_a_tsv_fail_cleanly(tmp_path, seed: int) -> None:
    data = random.Random(seed).randbytes(200)
    try:
        load_split("RTE", "dev", glue_dir=glue_with(tmp_path, data))
    except SmartBertError as error:
        assert "dev.tsv" in str(error)
    else:
        pytest.fail("random bytes parsed as RTE")


