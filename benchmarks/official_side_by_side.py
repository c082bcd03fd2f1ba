"""Prepare one SmartBERT training side by side, the official code against ours with the official
options (issue 33, item 5): the same SST-2 training examples (subsampled as our pipeline does, by the
same seed), the same backbone (the bundled all-MiniLM-L6-v2), the same seed.

    python benchmarks/official_side_by_side.py --official /tmp/official-smartbert --glue-dir ../shared/glue \
        --out /tmp/side-by-side [--examples 8000] [--seed 50]

writes ``OUT/data/SST-2/{train,dev}.tsv`` (the kept lines of the original TSV, in order; dev whole),
``OUT/minilm/`` (the backbone as the official code's transformers 2.x loads it: ``config.json``,
``pytorch_model.bin``, ``vocab.txt``), applies the one patch the official code needs on torch >= 2.6
(its feature cache is pickled objects: ``torch.load(..., weights_only=False)``, in the checkout's
``main.py``), and prints the two training commands (official: ``run.sh``'s arguments with these
paths; ours: ``smartbert train`` with ``config/variants/smartbert-official.yaml``). The official
``main.py`` imports its whole vendored transformers 2.x, whose tokenizers need, beside the harness's
packages (README, "Equivalence with the official code"), ``pip install --target DEPS --no-deps
sacremoses==0.1.1 sentencepiece``; ``DEPS`` goes on its ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from smartbert.data.glue_tsv import read_glue_tsv, tsv_path
from smartbert.data.splits import subsample
from smartbert.data.tasks import get_task
from smartbert.modeling.backbones import load_backbone, minilm_path

PATCH = ("features = torch.load(cached_features_file)", "features = torch.load(cached_features_file, weights_only=False)")


def write_data(glue_dir: str, out: Path, examples: int, seed: int) -> int:
    """The kept training lines (our pipeline's ``subsample`` of the training rows by ``seed``) and dev."""
    spec = get_task("SST-2")
    train = tsv_path(spec, "train", Path(glue_dir))
    lines = train.read_text(encoding="utf-8").splitlines()
    rows = len(read_glue_tsv(train, spec))
    if rows != len(lines) - 1:
        raise SystemExit(f"{train}: {rows} examples but {len(lines) - 1} data lines; cannot map rows to lines")
    keep = subsample(range(rows), examples, seed)
    target = out / "data" / "SST-2"
    target.mkdir(parents=True, exist_ok=True)
    (target / "train.tsv").write_text("\n".join([lines[0], *(lines[1 + i] for i in keep)]) + "\n", encoding="utf-8")
    shutil.copy(tsv_path(spec, "dev", Path(glue_dir)), target / "dev.tsv")
    return len(keep)


def write_backbone(out: Path) -> Path:
    """MiniLM-L6 as a transformers 2.x directory (weights in ``pytorch_model.bin``)."""
    target = out / "minilm"
    target.mkdir(parents=True, exist_ok=True)
    source = minilm_path()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(source / name, target / name)
    state = {k: v for k, v in load_backbone("minilm-l6").state_dict().items() if not k.endswith("position_ids")}
    torch.save(state, target / "pytorch_model.bin")
    return target


def patch_official(checkout: Path) -> str:
    main = checkout / "main.py"
    text = main.read_text()
    if PATCH[1] in text:
        return "already patched"
    if PATCH[0] not in text:
        raise SystemExit(f"{main}: the line to patch ({PATCH[0]!r}) is not there: another commit?")
    main.write_text(text.replace(PATCH[0], PATCH[1]))
    return "patched"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True)
    parser.add_argument("--deps", default="/tmp/official-deps", help="the official code's extra packages (pip --target)")
    parser.add_argument("--glue-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--examples", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=50, help="run.sh's seed; ours uses it for subsampling and training")
    args = parser.parse_args(argv)
    out, checkout = Path(args.out).resolve(), Path(args.official).resolve()
    kept = write_data(args.glue_dir, out, args.examples, args.seed)
    backbone = write_backbone(out)
    print(f"{kept} SST-2 training examples -> {out / 'data' / 'SST-2'}; backbone -> {backbone}; main.py {patch_official(checkout)}")
    print("official:\n  cd", checkout, "&& PYTHONPATH=" + args.deps, sys.executable, "main.py --lamada 0.04 --eta1 0.01 "
          "--eta2 0.05 --t1 0.5 --t2 0.55 --special_training_mode True --is_hard_weight True --skipped_rate 0.5 "
          f"--seed {args.seed} --data_dir {out / 'data' / 'SST-2'} --task_name SST-2 --output_path '{out}/official_{{}}_{{}}_{{}}_{{}}_{{}}_{{}}_{{}}' "
          f"--do_train True --do_eval True --model_name_or_path {backbone} --per_gpu_train_batch_size 16 "
          "--first_stage_train_nums 5 --second_stage_train_nums 4 --learning_rate 2e-5 --weight_decay 0.01 "
          "--adam_epsilon 1e-8 --warmup_steps 10 --log_step 100 --max_seq_length 128")
    print("ours:\n  smartbert train --task SST-2 --method smartbert --backbone minilm-l6 "
          "--config config/variants/smartbert-official.yaml "
          f"--config '{{\"train\": {{\"max_train_examples\": {args.examples}, \"seed\": {args.seed}}}}}' --out {out / 'ours'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
