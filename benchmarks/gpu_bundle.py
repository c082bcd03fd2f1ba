"""Build ``.gpu-check/``: what `make gpu-check` needs on an offline GPU machine beyond its own
Python, torch, transformers, numpy, pandas, scikit-learn, safetensors, tokenizers, tqdm and pytest.

- ``wheels/``: fvcore and its pure-Python dependencies plus PyYAML, for the GPU machine's Python
  (default 3.12, manylinux x86_64), downloaded here from the package index;
- ``minilm-l6/``: the bundled all-MiniLM-L6-v2 weights in float16 (about 45 MB; the library loads
  them as float32 master weights) with its config and tokenizer;
- ``glue/RTE/``: a transport copy of the RTE TSVs from ``$GLUE_DIR`` (never committed: the folder is
  ignored), so the check trains on real data where no mirror exists.

Run here: ``make gpu-bundle``; then carry ``.gpu-check`` with the working tree (64 MiB at most).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

WHEELS = ["fvcore==0.1.5.post20221221", "iopath", "portalocker", "yacs", "tabulate", "termcolor", "pyyaml"]
MINILM_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
LIMIT_MB = 64


def download_wheels(out: Path, python_version: str, platform: str) -> None:
    """Binary wheels for the target Python where a package has compiled code (PyYAML), pure-Python
    wheels (or sdists built into wheels here) otherwise; no dependency resolution against torch."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(out),
                    "--only-binary=:all:", "--python-version", python_version, "--platform", platform, "pyyaml"], check=True)
    for package in WHEELS[:-1]:  # pure Python: some publish only an sdist, so build a wheel of it here
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), package],
                       check=True)


def half_precision_minilm(out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from smartbert.modeling.backbones import minilm_path

    source = minilm_path()
    out.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    weights = load_file(str(source / "model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              str(out / "model.safetensors"))


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".gpu-check")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python")
    parser.add_argument("--platform", default="manylinux2014_x86_64")
    parser.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR", "../shared/glue"))
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    download_wheels(out / "wheels", args.python_version, args.platform)
    half_precision_minilm(out / "minilm-l6")
    has_rte = copy_rte(Path(args.glue_dir), out / "glue" / "RTE")
    total = size_mb(out)
    manifest = {"wheels": sorted(p.name for p in (out / "wheels").iterdir()), "minilm_MB": round(size_mb(out / "minilm-l6"), 1),
                "rte": has_rte, "total_MB": round(total, 1), "limit_MB": LIMIT_MB}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    if total > LIMIT_MB:
        print(f"gpu-bundle: error: {out} is {total:.1f} MB, over the {LIMIT_MB} MiB that may travel", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
