"""A table on disk: the tidy CSV (every number), Markdown and LaTeX (the paper's layout), atomically."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from smartbert.core.io import atomic_write_text


def format_mean_std(mean: float, std: float, n: float) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.1f} ± {std:.1f}" if n and n > 1 else f"{mean:.1f}"


def to_markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_plain(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def to_latex(frame: pd.DataFrame, caption: str) -> str:
    escape = lambda v: _plain(v).replace("%", r"\%").replace("_", r"\_").replace("±", r"$\pm$").replace("&", r"\&")
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "r" * (len(frame.columns) - 1) + "}",
             r"\toprule", " & ".join(escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(escape(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _plain(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.1f}"
    return str(value)


def write_table(tidy: pd.DataFrame, display: pd.DataFrame, stem: str | Path, caption: str) -> list[Path]:
    """``stem``.csv (tidy, every number), .md and .tex (the paper's layout), each written atomically."""
    stem = Path(stem)
    outputs = {stem.with_suffix(".csv"): tidy.to_csv(index=False, float_format="%.4f"),
               stem.with_suffix(".md"): f"{caption}\n\n" + to_markdown(display),
               stem.with_suffix(".tex"): to_latex(display, caption)}
    for path, text in outputs.items():
        atomic_write_text(path, text)
    return list(outputs)
