"""``train.compile`` against eager training on the CPU (issue 32): same data, same seeds, same
length buckets, BERT and SmartBERT trained with ``smartbert train`` both ways; the dev metric of each
stage's kept epoch, the training losses, and the wall time (compiling included) side by side.

Eager runs of two seeds give the noise the compiled runs are judged against: compiled equals eager
"within noise" when, per method, stage and epoch, |compiled - eager| dev metric of the same seed is at
most the spread between the eager seeds at that epoch plus one dev example (a compiled kernel sums in another order, so the weights drift apart
by rounding from the first step on).

    python benchmarks/compile_smoke.py --out results/bench/compile_smoke.json
    python benchmarks/compile_smoke.py --same-step   # one step per stage, compiled against eager

The second part separates the two reasons a compiled run can end elsewhere: on one fixed batch from
the same weights, dropout off, does the compiled loss give eager's loss terms and gradients?

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


#: Compiled and eager compute the same step when the loss and each gradient differ by at most this,
#: relative to their size (float32, summed in another order).
SAME_STEP_TOLERANCE = 1e-4


def same_step(method_name: str, backbone: str, stages: set[str] | None = None, hard_gates: bool = True) -> list[dict]:
    """Each trained stage's loss, loss terms and gradients on one fixed batch, compiled against eager,
    from the same weights with dropout off (a compiled graph draws dropout from its own generator):
    whether ``train.compile`` computes the same function, apart from training's drift. SmartBERT's
    stage 1 is checked with soft and (``hard_gates``) hard gates (eqs. 1 and 11); ``stages``: only those."""
    import torch

    from smartbert.methods.registry import get_method
    from smartbert.modeling.backbones import load_backbone

    method = get_method(method_name)
    config = method.config_class()
    torch.manual_seed(0)
    model = method.build(load_backbone(backbone, seed=0), 2, config)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (8, 16), generator=generator)
    mask = torch.ones(8, 16, dtype=torch.long)
    mask[::3, 10:] = 0
    batch = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask,
             "labels": torch.randint(0, 2, (8,), generator=generator), "index": torch.arange(8),
             "teacher_logits": torch.randn(8, 2, generator=generator)}
    rows = []
    for stage in (s for s in method.stages(config) if not s.reuse and (stages is None or s.name in stages)):
        stage_batch = dict(batch)
        if stage.frozen is not None:
            with torch.no_grad():
                stage_batch["frozen"] = stage.frozen(model, stage_batch)
        trainable = list(dict.fromkeys(stage.trainable(model)))
        names = {id(p): n for n, p in model.named_parameters()}
        epochs = [0, config.soft_epochs] if hard_gates and method_name == "smartbert" and stage.name == "stage1" else [0]
        for epoch in epochs:
            def run(loss_fn, epoch=epoch, stage_batch=stage_batch, trainable=trainable):
                for parameter in model.parameters():
                    parameter.grad = None
                loss, terms = loss_fn(model, stage_batch, epoch)
                loss.backward()
                return loss.detach(), {k: v.detach() for k, v in terms.items()}, [p.grad for p in trainable]

            eager_loss, eager_terms, eager_grads = run(stage.loss)
            started = time.perf_counter()
            compiled_loss, compiled_terms, compiled_grads = run(torch.compile(stage.loss))
            compile_s = time.perf_counter() - started
            torch._dynamo.reset()

            pairs = [(names[id(p)], c, e) for p, c, e in zip(trainable, compiled_grads, eager_grads, strict=True)
                     if e is not None]
            missing = [name for name, c, _ in pairs if c is None]
            present = [(name, c, e) for name, c, e in pairs if c is not None]
            # relative to the whole gradient's size: some gradients are 0 in exact arithmetic (a key
            # projection's bias: softmax ignores a shift of every score), rounding noise both ways
            scale = float(torch.cat([e.flatten() for _, _, e in present]).norm())
            worst = max(present, key=lambda t: float((t[1] - t[2]).norm()))
            row = {"method": method_name, "stage": stage.name, "epoch": epoch, "compile_s": round(compile_s, 1),
                   "loss_relative_difference": relative(compiled_loss, eager_loss),
                   "terms_relative_difference": {k: relative(compiled_terms[k], v) for k, v in eager_terms.items()},
                   "gradients": len(pairs), "gradient_missing_when_compiled": missing,
                   "gradient_relative_difference": float(torch.cat([(c - e).flatten() for _, c, e in present]).norm()) / scale,
                   "worst_parameter": worst[0],
                   "worst_parameter_difference_over_gradient_norm": float((worst[1] - worst[2]).norm()) / scale}
            row["same_function"] = not missing and max(
                row["loss_relative_difference"], row["gradient_relative_difference"],
                row["worst_parameter_difference_over_gradient_norm"], *row["terms_relative_difference"].values()
            ) <= SAME_STEP_TOLERANCE
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def relative(a, b) -> float:
    """|a - b| / |b| of two tensors (b's norm floored at 1e-12)."""
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="default: results/bench/compile_smoke.json, or compile_same_step.json with --same-step")
    parser.add_argument("--task", default="synthetic-sentiment")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--methods", nargs="+", default=["bert", "smartbert"])
    parser.add_argument("--seeds", nargs=2, type=int, default=[1, 2], help="two seeds: the eager spread is the noise")
    parser.add_argument("--same-step", action="store_true",
                        help="only compare one compiled step with eager per stage (seconds)")
    args = parser.parse_args(argv)
    import torch

    if args.same_step:
        rows = [row for method in args.methods for row in same_step(method, args.backbone)]
        write_result({"benchmark": "compile_same_step", "backbone": args.backbone, "torch": torch.__version__,
                      "tolerance": SAME_STEP_TOLERANCE, "rows": rows},
                     args.out or "results/bench/compile_same_step.json")
        return 0

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
                  "load_average_at_end": os.getloadavg()[0], "runs": runs, "verdict": verdict(runs, dev_examples)},
                 args.out or "results/bench/compile_smoke.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
