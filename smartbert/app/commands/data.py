"""`smartbert data`: check a task's data and summarise it."""

from __future__ import annotations

import argparse
import json

from smartbert.core.formats import DATA_SUMMARY
from smartbert.data.summary import summarise_task


def run(args: argparse.Namespace) -> None:
    summary = summarise_task(args.task, args.data_source, args.glue_dir)
    if args.out:
        DATA_SUMMARY.write_json(summary, args.out)
    print(json.dumps(DATA_SUMMARY.stamp_document(summary), indent=2))
