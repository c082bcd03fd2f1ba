"""Hub GLUE rows to examples: whole columns (``examples_from_table``) against row-by-row indexing.

A task the size of MNLI (392,702 pairs) is written to an Arrow file and memory-mapped back, as
``datasets`` serves a cached split; both readers convert it, alone, in the same process. Target:
seconds, not a minute (issue 13). Usage: python benchmarks/hub_loading.py [--rows N] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import datasets

from smartbert.data.hub import examples_from_table
from smartbert.data.tasks import Example, get_task


def row_by_row(table, spec) -> list[Example]:
    """The former reader: ``table[column]`` then one index per row."""
    columns = [table[c] for c in spec.hub_text_columns]
    labels = table["label"]
    return [Example(columns[0][i], columns[1][i], int(labels[i])) for i in range(len(labels))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=392_702)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    spec = get_task("MNLI")
    with tempfile.TemporaryDirectory() as folder:
        datasets.Dataset.from_dict({"premise": [f"premise number {i} of the set ." for i in range(args.rows)],
                                    "hypothesis": [f"hypothesis {i} ." for i in range(args.rows)],
                                    "label": [i % 3 for i in range(args.rows)], "idx": list(range(args.rows))},
                                   ).save_to_disk(folder)
        table = datasets.load_from_disk(folder)  # memory-mapped, as a cached split
        seconds = {}
        for name, reader in (("whole_columns", examples_from_table), ("row_by_row", row_by_row)):
            start = time.perf_counter()
            examples = reader(table, spec)
            seconds[name] = round(time.perf_counter() - start, 2)
            assert len(examples) == args.rows
    result = {"rows": args.rows, "seconds": seconds, "speedup": round(seconds["row_by_row"] / seconds["whole_columns"], 1),
              "target": "whole_columns under 10 s", "met": seconds["whole_columns"] < 10}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
