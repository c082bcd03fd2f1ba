"""``train.compile`` against eager training on the CPU (issue 32): same data, same seeds, same
length buckets, BERT and SmartBERT trained with ``smartbert train`` both ways; the dev metric of each
stage's kept epoch, the training losses, and the wall time (compiling included) side by side.

Eager runs of two seeds give the noise the compiled runs are judged against: compiled equals eager
"within noise" when, per method, stage and epoch, |compiled - eager| dev metric of the same seed is at
most the spread between the eager seeds at that epoch plus one dev example (a compiled kernel sums in another order, so the weights drift apart
by rounding from the first step on).

    python benchmarks/compile_smoke.py --out results/bench/compile_smoke.json

On a CPU the compiling takes minutes and the fused kernels gain little: what compile is for is a GPU's
launch-bound small kernels (benchmarks/training_ops.py counts them); time it there with make gpu-check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _result import write_result  # noqa: E402

TRAIN = {"epochs": 3, "batch_size": 16, "learning_rate": 5.0e-4, "max_seq_len": 32, "max_train_examples": 800,
         "pad_to_multiple_of": 16}
SMARTBERT = {"stage1_epochs": 3, "soft_epochs": 2, "stage2_epochs": 2, "lam": 0.001}


def train(method: str, seed: int, compiled: bool, out: Path, task: str, backbone: str) -> dict:
    """One ``smartbert train`` run; its stages' kept epochs, losses and wall time."""
    config = {"train": {**TRAIN, "compile": compiled, "seed": seed}}
    if method == "smartbert":
        config["method"] = SMARTBERT
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "smartbert.app.cli", "train", "--task", task, "--method", method,
                           "--backbone", backbone, "--data-source", "synthetic", "--no-resume",
                           "--config", json.dumps(config), "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise SystemExit(f"compile-smoke: {method} seed {seed} compile={compiled} failed:\n{done.stderr[-3000:]}")
    description = json.loads((out / "smartbert.json").read_text())
    return {"method": method, "seed": seed, "compile": compiled, "wall_s": round(time.perf_counter() - started, 1),
            "stages": [{"stage": s["stage"], "best_epoch": s["best_epoch"], "best_metric": s["best_metric"],
                        "train_loss": [round(e["train_loss"], 4) for e in s["epochs"]],
                        "dev_metric": [e["metric"] for e in s["epochs"]], "seconds": round(s["seconds"], 1)}
                       for s in description["stages"] if s.get("reused_from") is None]}


def verdict(runs: list[dict], dev_examples: int) -> dict:
    """Per method and stage, epoch by epoch: the eager runs' spread over seeds, compiled minus eager
    of the same seed, and whether every gap is within that spread plus one dev example."""
    out = {}
    one_example = 100.0 / dev_examples
    for method in sorted({r["method"] for r in runs}):
        mine = [r for r in runs if r["method"] == method]
        for index, stage in enumerate(s["stage"] for s in mine[0]["stages"]):
            eager = {r["seed"]: r["stages"][index]["dev_metric"] for r in mine if not r["compile"]}
            compiled = {r["seed"]: r["stages"][index]["dev_metric"] for r in mine if r["compile"]}
            spread = [max(per_seed) - min(per_seed) for per_seed in zip(*eager.values())]
            gaps = {seed: [round(c - e, 2) for c, e in zip(compiled[seed], eager[seed])] for seed in compiled}
            out[f"{method}/{stage}"] = {
                "eager_seed_spread": [round(x, 2) for x in spread], "compiled_minus_eager": gaps,
                "within_noise": all(abs(g) <= s + one_example + 1e-9 for per in gaps.values() for g, s in zip(per, spread))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/bench/compile_smoke.json")
    parser.add_argument("--task", default="synthetic-sentiment")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--methods", nargs="+", default=["bert", "smartbert"])
    parser.add_argument("--seeds", nargs=2, type=int, default=[1, 2], help="two seeds: the eager spread is the noise")
    args = parser.parse_args(argv)
    import torch

    from smartbert.data.load import load_split

    dev_examples = len(load_split(args.task, "dev"))
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for method in args.methods:
            for seed in args.seeds:
                for compiled in (False, True):
                    run = train(method, seed, compiled, Path(scratch) / f"{method}-{seed}-{int(compiled)}", args.task, args.backbone)
                    print(json.dumps(run), file=sys.stderr)
                    runs.append(run)
    write_result({"benchmark": "compile_smoke", "task": args.task, "backbone": args.backbone, "train": TRAIN,
                  "smartbert": SMARTBERT, "dev_examples": dev_examples, "torch": torch.__version__,
                  "load_average_at_end": os.getloadavg()[0], "runs": runs, "verdict": verdict(runs, dev_examples)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
