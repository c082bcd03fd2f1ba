"""Training cost on the CPU, before and after, in one run (issue 15, item 1): MiniLM-L6 on full RTE.

1. BERT fine-tuning steps (batch 16, length-grouped, lr 3e-5): examples/s of one process at every
   core in fp32 (the suite before) and bf16, and of one process per core side by side (the
   workflow's CPU scheduling now), each in fresh processes started together.
2. The second stages on a frozen model (SmartBERT stage 2, FastBERT's distillation, DeeBERT's
   off-ramps): a stage of ``--stage-epochs`` epochs with the frozen pass computed live every epoch
   (``$SMARTBERT_FROZEN_CACHE_MB=0``, before) and cached once (after), seconds and examples/s.

Alone on the machine. Usage: python benchmarks/training_speed.py --glue-dir ../shared/glue
[--steps 60] [--stage-epochs 3] [--out results/bench/training_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _result import write_result  # noqa: E402

WARMUP = 3


def bert_steps(glue_dir: str, precision: str, steps: int) -> dict:
    """One process: ``steps`` BERT optimisation steps on full RTE after a warm-up; examples/s."""
    import torch

    from smartbert.data.encode import iterate_batches
    from smartbert.data.prepare import DataOptions, load_encoded
    from smartbert.data.tasks import get_task
    from smartbert.methods.registry import get_method
    from smartbert.modeling import backbones
    from smartbert.training.config import TrainConfig
    from smartbert.training.precision import MixedPrecision
    from smartbert.training.trainer import _parameter_groups, freeze_to, make_optimizer, optimisation_step

    spec = get_task("RTE")
    data = load_encoded(spec, "train", backbones.load_tokenizer("minilm-l6"), 128, DataOptions("tsv", glue_dir))
    torch.manual_seed(1)
    method = get_method("bert")
    model = method.build(backbones.load_backbone("minilm-l6", 1), spec.num_labels, method.config_class())
    stage = method.stages(method.config_class())[0]
    params = list(model.parameters())
    names = {id(p): n for n, p in model.named_parameters()}
    config = TrainConfig(learning_rate=3e-5, batch_size=16, precision=precision)
    optimizer = make_optimizer(_parameter_groups(params, names, config.weight_decay), config.learning_rate)
    amp = MixedPrecision(precision, torch.device("cpu"))
    freeze_to(model, params)
    batches = list(iterate_batches(data, 16, shuffle=True, seed=0, group_by_length=True))[:WARMUP + steps]
    examples, started = 0, 0.0
    for i, batch in enumerate(batches):
        if i == WARMUP:
            started, examples = time.perf_counter(), 0
        optimisation_step(model, stage, batch, 0, params, optimizer, config, amp=amp)
        examples += len(batch["labels"])
    seconds = time.perf_counter() - started
    return {"precision": precision, "threads": torch.get_num_threads(), "steps": steps,
            "examples_per_s": round(examples / seconds, 2), "seconds": round(seconds, 1)}


def side_by_side(glue_dir: str, precision: str, steps: int, processes: int, threads: int) -> dict:
    """``processes`` fresh processes of ``threads`` threads each, started together; their examples/s."""
    command = [sys.executable, __file__, "--glue-dir", glue_dir, "--one", precision, "--steps", str(steps)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    running = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for process in running:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"a timing process failed (exit {process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {"precision": precision, "processes": processes, "threads_each": threads,
            "examples_per_s_each": [r["examples_per_s"] for r in results],
            "examples_per_s_total": round(sum(r["examples_per_s"] for r in results), 2)}


def second_stage(glue_dir: str, method_name: str, epochs: int, cached: bool, precision: str, task: str = "RTE") -> dict:
    """The method's frozen-model stage for ``epochs`` epochs on the full ``task``, live or cached."""
    import torch

    from smartbert.data.prepare import DataOptions
    from smartbert.data.tasks import get_task
    from smartbert.methods.registry import get_method
    from smartbert.modeling import backbones
    from smartbert.training.config import TrainConfig
    from smartbert.training.pipeline import training_splits
    from smartbert.training.trainer import train_stage

    os.environ["SMARTBERT_FROZEN_CACHE_MB"] = "4096" if cached else "0"
    spec, method = get_task(task), get_method(method_name)
    config = TrainConfig(learning_rate=3e-5, batch_size=16, epochs=epochs, precision=precision, seed=1)
    train, select, _ = training_splits(spec, backbones.load_tokenizer("minilm-l6"), config, DataOptions("tsv", glue_dir))
    torch.manual_seed(1)
    model = method.build(backbones.load_backbone("minilm-l6", 1), spec.num_labels, method.config_class())
    stage = next(s for s in method.stages(method.config_class()) if s.frozen is not None)
    stage.epochs = epochs
    report = train_stage(model, stage, train, select, spec, config, progress=False)
    epoch_seconds = [e["seconds"] for e in report.epochs]
    return {"method": method_name, "stage": stage.name, "cached": cached, "epochs": epochs,
            "stage_seconds": round(report.seconds, 1), "epoch_seconds": epoch_seconds,
            "before_epochs_seconds": round(report.seconds - sum(epoch_seconds), 1),
            "train_examples_per_s": [e["examples_per_s"] for e in report.epochs],
            "metric_last_epoch": round(report.epochs[-1]["metric"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glue-dir", required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--stage-epochs", type=int, default=3)
    parser.add_argument("--precision", default="bf16", help="of the second-stage runs")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one timing process
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(bert_steps(args.glue_dir, args.one, args.steps)))
        return
    cores = os.cpu_count() or 1
    steps = {"before": side_by_side(args.glue_dir, "fp32", args.steps, 1, cores),
             "bf16_one_process": side_by_side(args.glue_dir, "bf16", args.steps, 1, cores),
             "fp32_one_per_core": side_by_side(args.glue_dir, "fp32", args.steps, cores, 1),
             "after": side_by_side(args.glue_dir, "bf16", args.steps, cores, 1)}
    base = steps["before"]["examples_per_s_total"]
    for row in steps.values():
        row["x_before"] = round(row["examples_per_s_total"] / base, 2)
    stages = [second_stage(args.glue_dir, name, args.stage_epochs, cached, args.precision)
              for name in ("smartbert", "fastbert", "deebert") for cached in (False, True)]
    for live, cached in zip(stages[::2], stages[1::2]):
        cached["x_faster_than_live"] = round(live["stage_seconds"] / cached["stage_seconds"], 2)
    write_result({"task": "RTE (full train, 2,490 examples)", "backbone": "minilm-l6", "cores": cores,
                  "bert_steps": steps, "second_stages": stages,
                  "note": "alone on the machine; examples/s of optimisation steps only (no evaluation)"}, args.out)


if __name__ == "__main__":
    main()
