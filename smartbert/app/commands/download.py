"""`smartbert download`: put GLUE tasks and hub backbones into the Hugging Face cache."""

from __future__ import annotations

import argparse
import json

from smartbert.app.download import download
from smartbert.core.errors import SmartBertError
from smartbert.core.io import atomic_write_text


def run(args: argparse.Namespace) -> None:
    if not args.task and not args.backbone:
        raise SmartBertError("nothing to download; pass --task NAME and/or --backbone NAME (repeatable)")
    rows = download(args.task, args.backbone, args.data_source, args.glue_dir)
    if args.out:
        atomic_write_text(args.out, json.dumps(rows, indent=2) + "\n")
    for row in rows:
        print(f"{row['item']}: {row['status']}")
