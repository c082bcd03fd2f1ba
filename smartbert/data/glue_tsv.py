"""Read the original GLUE TSVs exactly as ``download_glue_data.py`` writes them.

Quirks handled: CoLA has no header (positional columns); MRPC's header starts with a UTF-8
byte-order mark (read as ``utf-8-sig``); MNLI's dev sets are ``dev_matched.tsv`` and
``dev_mismatched.tsv``; fields are never quoted (``QUOTE_NONE``: quotes are text).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from smartbert.core.errors import DataFormatError, DataUnavailableError
from smartbert.data.tasks import Example, TaskSpec

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def tsv_path(spec: TaskSpec, split: str, glue_dir: Path) -> Path:
    """Where ``split`` of ``spec`` lives under ``glue_dir``; a clear error when it does not."""
    if spec.glue_folder is None or split not in spec.tsv_files:
        raise DataUnavailableError(f"task {spec.name} has no GLUE TSV split {split!r}")
    path = Path(glue_dir) / spec.glue_folder / spec.tsv_files[split]
    if not path.is_file():
        raise DataUnavailableError(
            f"{path} not found: GLUE_DIR={glue_dir} has no {spec.name} {split} file. "
            f"Put the original GLUE file there (download_glue_data.py layout), point GLUE_DIR at a "
            f"folder that has it, or unset GLUE_DIR to load {spec.name} from the Hugging Face hub."
        )
    return path


def read_glue_tsv(path: Path, spec: TaskSpec) -> list[Example]:
    """Parse one GLUE TSV into examples with label ids in ``spec.labels`` order."""
    layout = spec.tsv_layout
    assert layout is not None, f"{spec.name} has no TSV layout"
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}); the "
                              f"original GLUE {spec.name} file is UTF-8: re-download it") from None
    if not rows:
        raise DataFormatError(f"{path} is empty; expected the GLUE {spec.name} TSV")
    if layout.has_header:
        header, rows = rows[0], rows[1:]
        index = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in (*layout.text_columns, layout.label_column) if c not in index]
        if missing:
            raise DataFormatError(
                f"{path}: header lacks column(s) {missing}; found {header}. Is this the "
                f"{spec.name} file in the original GLUE layout?"
            )
        text_idx = [index[str(c)] for c in layout.text_columns]
        label_idx = index[str(layout.label_column)]
        first_line = 2
    else:
        text_idx = [int(c) for c in layout.text_columns]
        label_idx = int(layout.label_column)
        first_line = 1
    label_ids = {value: i for i, value in enumerate(layout.label_values)}
    needed = max(*text_idx, label_idx) + 1
    examples = []
    for line_no, row in enumerate(rows, start=first_line):
        if not row or row == [""]:
            continue
        if len(row) < needed:
            raise DataFormatError(
                f"{path}:{line_no}: {len(row)} column(s), expected at least {needed} "
                f"(a truncated or re-quoted file?)"
            )
        raw_label = row[label_idx].strip()
        if raw_label not in label_ids:
            raise DataFormatError(
                f"{path}:{line_no}: label {raw_label!r} is not one of {list(layout.label_values)}"
            )
        texts = [row[i] for i in text_idx]
        examples.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label_ids[raw_label]))
    if not examples:
        raise DataFormatError(f"{path} has a header but no examples")
    return examples
