"""Every GLUE TSV layout, read from fixtures written here, and the errors on bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smartbert.core.errors import (
    DataFormatError,
    DataUnavailableError,
    UnknownNameError,
)
from smartbert.data.load import load_split
from smartbert.data.tasks import get_task
from tests.helpers import REPO

#: the real GLUE mirror: $GLUE_DIR (as the workflow reads it), else ../shared/glue beside the checkout
SHARED_GLUE = Path(os.environ.get("GLUE_DIR") or REPO.parent / "shared" / "glue")


def write(root: Path, relative: str, text: str, encoding: str = "utf-8") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture()
def glue(tmp_path: Path) -> Path:
    write(tmp_path, "CoLA/dev.tsv", "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe more books I ask.\n")
    write(tmp_path, "SST-2/dev.tsv", "sentence\tlabel\nit 's a charming journey . \t1\nbad film\t0\n")
    # MRPC's header starts with a UTF-8 byte-order mark
    write(tmp_path, "MRPC/dev.tsv", "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
          "1\t1\t2\tHe said \"yes\".\tHe agreed.\n0\t3\t4\tA cat.\tA dog.\n")
    write(tmp_path, "RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tA person rests.\tentailment\n"
          "1\tA man sleeps.\tNobody sleeps.\tnot_entailment\n")
    mnli_header = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
                   "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n")
    write(tmp_path, "MNLI/dev_matched.tsv", mnli_header + "0\t1\t1e\tfic\t(x)\t(y)\t(x)\t(y)\tP one.\tH one.\tneutral\tneutral\n")
    write(tmp_path, "MNLI/dev_mismatched.tsv", mnli_header + "0\t1\t1c\tlet\t(x)\t(y)\t(x)\t(y)\tP two.\tH two.\tcontradiction\tcontradiction\n")
    write(tmp_path, "QNLI/dev.tsv", "index\tquestion\tsentence\tlabel\n0\tWhat?\tThat.\tnot_entailment\n")
    write(tmp_path, "WNLI/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\tThe drain is clogged.\tIt is.\t1\n")
    write(tmp_path, "QQP/dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tHow?\tWhy?\t0\n")
    return tmp_path


@pytest.mark.parametrize("task, expected", [
    ("CoLA", [("The sailors rode the breeze.", None, 1), ("The more books I ask.", None, 0)]),
    ("SST-2", [("it 's a charming journey . ", None, 1), ("bad film", None, 0)]),
    ("MRPC", [('He said "yes".', "He agreed.", 1), ("A cat.", "A dog.", 0)]),
    ("RTE", [("A man sleeps.", "A person rests.", 0), ("A man sleeps.", "Nobody sleeps.", 1)]),
    ("MNLI", [("P one.", "H one.", 1)]),
    ("MNLI-mm", [("P two.", "H two.", 2)]),
    ("QNLI", [("What?", "That.", 1)]),
    ("WNLI", [("The drain is clogged.", "It is.", 1)]),
    ("QQP", [("How?", "Why?", 0)]),
])
def test_each_glue_layout_parses(glue: Path, task: str, expected) -> None:
    examples = load_split(task, "dev", glue_dir=glue)
    assert [(e.text_a, e.text_b, e.label) for e in examples] == expected


def test_missing_task_file_names_the_path_and_the_fixes(glue: Path) -> None:
    with pytest.raises(DataUnavailableError, match=r"CoLA/train\.tsv not found.*GLUE_DIR"):
        load_split("CoLA", "train", glue_dir=glue)


def test_unknown_label_value_names_line_and_labels(glue: Path) -> None:
    write(glue, "RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(DataFormatError, match=r"dev\.tsv:2: label 'maybe' is not one of"):
        load_split("RTE", "dev", glue_dir=glue)


def test_wrong_header_is_reported(glue: Path) -> None:
    write(glue, "SST-2/dev.tsv", "text\ttarget\nfine\t1\n")
    with pytest.raises(DataFormatError, match=r"header lacks column\(s\) \['sentence', 'label'\]"):
        load_split("SST-2", "dev", glue_dir=glue)


def test_truncated_row_and_empty_file(glue: Path) -> None:
    write(glue, "CoLA/dev.tsv", "gj04\t1\n")
    with pytest.raises(DataFormatError, match="2 column"):
        load_split("CoLA", "dev", glue_dir=glue)
    write(glue, "RTE/dev.tsv", "")
    with pytest.raises(DataFormatError, match="is empty"):
        load_split("RTE", "dev", glue_dir=glue)


def test_offline_without_glue_dir_names_glue_dir(monkeypatch) -> None:
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="GLUE_DIR"):
        load_split("RTE", "train")


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown task 'RTX'.*RTE"):
        get_task("RTX")
    assert get_task("sst2").name == get_task("SST-2").name == "SST-2"


@pytest.mark.skipif(not (SHARED_GLUE / "RTE" / "dev.tsv").is_file(),
                    reason=f"no GLUE mirror at {SHARED_GLUE}: set GLUE_DIR to one to check its row counts")
@pytest.mark.parametrize("task, split, rows", [("RTE", "dev", 277), ("CoLA", "dev", 1043), ("MRPC", "dev", 408),
                                               ("SST-2", "dev", 872), ("WNLI", "train", 635), ("QNLI", "dev", 5463)])
def test_real_glue_mirror_row_counts(task: str, split: str, rows: int) -> None:
    assert len(load_split(task, split, glue_dir=SHARED_GLUE)) == rows


def test_hub_columns_map_to_examples(monkeypatch) -> None:
    import datasets

    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"premise": ["P."], "hypothesis": ["H."], "label": [2], "idx": [0]})

    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples = load_split("MNLI-mm", "dev")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [("P.", "H.", 2)]


def test_hub_failure_says_to_set_glue_dir(monkeypatch) -> None:
    import datasets

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataUnavailableError, match=r"GLUE_DIR.*no route to host"):
        load_split("RTE", "dev")
