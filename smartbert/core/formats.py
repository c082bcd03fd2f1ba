"""The files one step of the suite writes for another to read: each kind's format version, stamped
into the file when written and checked when read, with the checks every reader shares (one home).

A CSV carries a ``format_version`` column (the last, so a row cut short loses it first); a JSON
document a ``format_version`` key. A file of an unknown version, of another kind, damaged,
truncated or not UTF-8 is a one-line :class:`FormatError` that names the file, what is wrong and
which step to rerun. Model directories carry their own version (:mod:`smartbert.methods.checkpoint`).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smartbert.core.errors import SmartBertError
from smartbert.core.io import atomic_write_text

VERSION_FIELD = "format_version"
JSON_NAMES: dict[type, str] = {dict: "JSON object", list: "JSON array", str: "JSON string"}


class FormatError(SmartBertError):
    """A file the suite wrote (or should have) is missing, damaged, foreign or of another version."""


@dataclass(frozen=True)
class Format:
    """One kind of file: its version, the step that writes it, and what a reader needs of it."""

    kind: str                        # as messages name it: "sweep", "latency table", ...
    version: int
    writer: str                      # the step to rerun: "`smartbert sweep`", ...
    required: tuple[str, ...] = ()   # columns (CSV) or top-level keys (JSON) a reader needs
    numeric: tuple[str, ...] = ()    # CSV columns that must hold finite numbers (required ones: in every row)
    bounds: tuple[tuple[str, float, float], ...] = ()  # (column, low, high) a number must lie within
    types: tuple[tuple[str, type], ...] = ()  # JSON keys and the type their value must have

    def stamp_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with this format's version as its last column, ready to write."""
        return frame.drop(columns=[VERSION_FIELD], errors="ignore").assign(**{VERSION_FIELD: self.version})

    def write_csv(self, frame: pd.DataFrame, path: str | Path) -> None:
        """``frame`` stamped with this format's version, written atomically (4 decimals)."""
        atomic_write_text(path, self.stamp_frame(frame).to_csv(index=False, float_format="%.4f"))

    def write_json(self, document: dict[str, Any], path: str | Path) -> None:
        """``document`` stamped with this format's version, written atomically (indented; NaN as NaN)."""
        atomic_write_text(path, json.dumps(self.stamp_document(document), indent=2, allow_nan=True) + "\n")

    def stamp_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` with this format's version as its first key, ready to write."""
        return {VERSION_FIELD: self.version, **{k: v for k, v in document.items() if k != VERSION_FIELD}}

    def error(self, path: str | Path, problem: str) -> FormatError:
        article = "an" if self.kind[0] in "aeiou" else "a"
        return FormatError(f"{path} {problem}; it must be {article} {self.kind} written by {self.writer}: rerun that step "
                           f"(delete the file and rerun the workflow)")

    def check_version(self, found: Any, path: str | Path) -> None:
        """Refuse a missing or unknown version by name."""
        if found is None or (isinstance(found, float) and math.isnan(found)):
            raise self.error(path, f"has no {VERSION_FIELD} (another kind of file, a damaged one, or one written "
                                   f"before the suite versioned its formats)")
        if isinstance(found, bool) or not isinstance(found, (int, float)) or found != self.version:
            raise self.error(path, f"has {VERSION_FIELD} {found!r}; this suite reads version {self.version}")

    def read_text(self, path: str | Path) -> str:
        path = Path(path)
        if not path.is_file():
            raise FormatError(f"{self.kind} {path} not found; write it with {self.writer} (or run the workflow)")
        try:
            return path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.error(path, f"is not UTF-8 text (byte {error.start})") from None
        except OSError as error:
            raise self.error(path, f"cannot be read ({error.strerror})") from None

    def read_csv(self, path: str | Path, sep: str = ",", dtype: dict | None = None) -> pd.DataFrame:
        """The rows of a CSV of this kind, checked and without the version column."""
        text = self.read_text(path)
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=dtype)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise self.error(path, f"is not a readable CSV ({' '.join(str(error).split())})") from None
        if VERSION_FIELD not in frame.columns:
            self.check_version(None, path)
        versions = pd.to_numeric(frame[VERSION_FIELD], errors="coerce")
        if frame.empty:
            raise self.error(path, "has no rows")
        bad = versions.isna() | (versions != self.version)
        if bad.any():
            row = int(bad.idxmax())
            raw = frame[VERSION_FIELD].iloc[row]
            self.check_version(None if pd.isna(raw) else _number(raw), f"{path} (row {row + 2})")
        _check_columns(self, path, frame.columns, "column")
        bounds = {column: (low, high) for column, low, high in self.bounds}
        for column in (c for c in self.numeric if c in frame.columns):
            values = pd.to_numeric(frame[column], errors="coerce")
            low, high = bounds.get(column, (-math.inf, math.inf))
            broken = (values.isna() & frame[column].notna()) | values.isin([math.inf, -math.inf]) | (values < low) | (values > high)
            if column in self.required:
                broken |= values.isna()
            if broken.any():
                row = int(broken.idxmax())
                span = f" in [{low:g}, {high:g}]" if column in bounds else ""
                raise self.error(path, f"has {frame[column].iloc[row]!r} in column {column!r} (row {row + 2}), "
                                       f"not a finite number{span}")
            frame[column] = values
        return frame.drop(columns=[VERSION_FIELD])

    def read_json(self, path: str | Path) -> dict[str, Any]:
        """The JSON document of this kind, checked (its version key kept)."""
        text = self.read_text(path)
        try:
            document = json.loads(text)
        except ValueError as error:
            raise self.error(path, f"is not valid JSON ({error})") from None
        if not isinstance(document, dict):
            raise self.error(path, f"holds a JSON {type(document).__name__}, not an object")
        self.check_version(document.get(VERSION_FIELD), path)
        _check_columns(self, path, document.keys(), "key")
        for key, expected in self.types:
            if key in document and not isinstance(document[key], expected):
                raise self.error(path, f"has a JSON {type(document[key]).__name__} under {key!r}, not a "
                                       f"{JSON_NAMES.get(expected, expected.__name__)}")
        return document


def _number(raw: Any) -> Any:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return raw


def _check_columns(fmt: Format, path: str | Path, found: Iterable[str], what: str) -> None:
    found = set(found)
    missing = [name for name in fmt.required if name not in found]
    if missing:
        raise fmt.error(path, f"lacks {what}(s) {missing}")


PERCENT = (-100.0, 100.0)  # accuracy and F1 in [0, 100], MCC in [-100, 100]
SWEEP = Format("sweep", 1, "`smartbert sweep`",
               required=("task", "method", "variant", "policy", "threshold", "metric", "cost_pct_paper",
                         "avg_flops_paper_M", "seed", "experiment_hash"),
               numeric=("threshold", "metric", "accuracy", "cost_pct_paper", "avg_flops_paper_M", "cost_pct_fvcore",
                        "avg_macs_fvcore_M", "avg_layers_run", "avg_layers_skipped", "avg_exit_layer", "n", "seed"),
               bounds=(("metric", *PERCENT), ("accuracy", 0.0, 100.0), ("cost_pct_paper", 0.0, 1e4),
                       ("avg_flops_paper_M", 0.0, 1e9), ("n", 1, 1e9), ("seed", 0, 2**32)))
LATENCY = Format("latency table", 1, "`smartbert latency`",
                 required=("task", "method", "policy", "threshold", "ms_per_example", "measured_speedup"),
                 numeric=("threshold", "ms_per_example", "p50_ms", "p90_ms", "p99_ms", "metric", "cost_pct", "n",
                          "repeats", "threads", "measured_speedup", "flops_speedup", "measured_over_flops"),
                 bounds=(("ms_per_example", 0.0, 1e7), ("metric", *PERCENT), ("n", 1, 1e9), ("repeats", 1, 1e6)))
SELECTION = Format("selection table", 1, "`smartbert select`", required=("heldout_metric", "selected"),
                   numeric=("heldout_metric", "mean_layers_run", "seconds", "best_epoch"),
                   bounds=(("heldout_metric", *PERCENT), ("mean_layers_run", 0.0, 1e4)))
SELECTION_ROW = Format("selection row", 1, "`smartbert select --point`", required=("row",),
                       types=(("row", dict),))
DATA_SUMMARY = Format("data summary", 1, "`smartbert data`", required=("task", "main_metric", "majority_class", "sizes"),
                      types=(("task", str), ("main_metric", str), ("majority_class", dict), ("sizes", dict)))
ORACLE = Format("oracle analysis", 1, "`smartbert oracle`", required=("summary", "heads"),
                types=(("summary", dict), ("heads", list), ("gates", list)))
TRACE = Format("trace", 1, "`smartbert trace`")
# version 2: trial_violation_rate is the share of picks over eps on all of dev (the guarantee's event),
# trial_test_violation_rate the share over eps on their test half (version 1's trial_violation_rate)
CALIBRATION = Format("calibration table", 2, "`smartbert calibrate`",
                     required=("task", "method", "procedure", "epsilon", "delta", "threshold", "cost_pct",
                               "trial_cost_pct_mean", "trial_risk_mean", "trial_violation_rate",
                               "trial_test_violation_rate", "seed"),
                     numeric=("epsilon", "delta", "threshold", "metric", "full_metric", "cost_pct", "risk", "n", "trials",
                              "trial_threshold_median", "trial_certified_rate", "trial_cost_pct_mean", "trial_cost_pct_std",
                              "trial_risk_mean", "trial_violation_rate", "trial_test_violation_rate", "seed"),
                     bounds=(("epsilon", 0.0, 1.0), ("delta", 0.0, 1.0), ("metric", *PERCENT), ("cost_pct", 0.0, 1e4),
                             ("trial_risk_mean", 0.0, 1.0), ("trial_violation_rate", 0.0, 1.0),
                             ("trial_test_violation_rate", 0.0, 1.0), ("n", 1, 1e9)))
