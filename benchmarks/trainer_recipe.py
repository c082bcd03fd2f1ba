"""Does the shared trainer cost accuracy? BERT on full RTE, over seeds: ``smartbert train`` against a
plain Hugging Face ``BertForSequenceClassification`` loop, and each suspect switched off in turn.

Every run: MiniLM-L6, all 2,490 RTE training examples, lr 3e-5, batch 16, 6% warmup, 4 epochs,
max length 128, dev accuracy after every epoch (best and last reported). Runs go two at a time,
one thread each (the cheapest way to use two cores: ``benchmarks/training_speed.py``), so every
variant sees the same load. Variants:

- ``ours``: ``smartbert.training.pipeline.train_method`` (method bert), ``--precision``;
- ``ours_random_batches``: the same, ``group_by_length: false`` (batches drawn at random, padded to
  their longest, as the plain loop);
- ``plain``: the reference loop written here: ``BertForSequenceClassification`` on the same
  weights, random batches, AdamW (no decay on biases and LayerNorm), linear warmup, clipping 1.0.

Usage: python benchmarks/trainer_recipe.py --glue-dir ../shared/glue [--seeds 1 2 3]
[--variants ...] [--out results/bench/trainer_recipe.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _result import write_result  # noqa: E402

RECIPE = {"learning_rate": 3e-5, "batch_size": 16, "warmup_ratio": 0.06, "epochs": 4, "max_seq_len": 128}
VARIANTS = ("ours", "ours_random_batches", "plain")


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_ours(task: str, seed: int, precision: str, glue_dir: str, group_by_length: bool) -> list[float]:
    from smartbert.data.prepare import DataOptions
    from smartbert.training.config import TrainConfig
    from smartbert.training.pipeline import train_method

    config = TrainConfig(**RECIPE, seed=seed, precision=precision, group_by_length=group_by_length)
    with tempfile.TemporaryDirectory() as out:
        summary = train_method(task, "bert", "minilm-l6", Path(out) / "model", config,
                               data=DataOptions("tsv", glue_dir), progress=False, resume=False)
    return [epoch["metric"] for epoch in summary.stages[0]["epochs"]]


def run_plain(task: str, seed: int, precision: str, glue_dir: str) -> list[float]:
    """The reference: nothing of the suite's training code, only its data loading and metric."""
    import torch
    from transformers import BertForSequenceClassification

    from smartbert.data.encode import iterate_batches
    from smartbert.data.metrics import compute_metrics
    from smartbert.data.prepare import DataOptions, load_encoded
    from smartbert.data.tasks import get_task
    from smartbert.modeling import backbones

    spec = get_task(task)
    tokenizer = backbones.load_tokenizer("minilm-l6")
    data = DataOptions("tsv", glue_dir)
    train = load_encoded(spec, "train", tokenizer, RECIPE["max_seq_len"], data)
    dev = load_encoded(spec, "dev", tokenizer, RECIPE["max_seq_len"], data)
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(str(backbones.minilm_path()), num_labels=spec.num_labels,
                                                          attn_implementation="sdpa", dtype=torch.float32)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=RECIPE["learning_rate"])
    steps = RECIPE["epochs"] * math.ceil(len(train) / RECIPE["batch_size"])
    warmup = int(RECIPE["warmup_ratio"] * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    autocast = precision == "bf16"
    metrics = []
    for epoch in range(RECIPE["epochs"]):
        model.train()
        for batch in iterate_batches(train, RECIPE["batch_size"], shuffle=True, seed=seed * 1000 + epoch,
                                     group_by_length=False):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                             attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
        model.eval()
        predictions = [0] * len(dev)
        with torch.no_grad():
            for batch in iterate_batches(dev, 64):
                logits = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                               attention_mask=batch["attention_mask"]).logits
                for row, index in enumerate(batch["index"].tolist()):
                    predictions[index] = int(logits[row].argmax())
        metrics.append(compute_metrics(spec, predictions, dev.labels)["metric"])
    return metrics


def run(job: dict) -> dict:
    started = time.perf_counter()
    if job["variant"] == "plain":
        per_epoch = run_plain(job["task"], job["seed"], job["precision"], job["glue_dir"])
    else:
        per_epoch = run_ours(job["task"], job["seed"], job["precision"], job["glue_dir"],
                             group_by_length=job["variant"] == "ours")
    return {**{k: v for k, v in job.items() if k != "glue_dir"}, "per_epoch": [round(m, 2) for m in per_epoch],
            "best": round(max(per_epoch), 2), "last": round(per_epoch[-1], 2),
            "seconds": round(time.perf_counter() - started, 1)}


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for key in sorted({(r["variant"], r["precision"]) for r in runs}):
        group = [r for r in runs if (r["variant"], r["precision"]) == key]
        row = {"variant": key[0], "precision": key[1], "seeds": [r["seed"] for r in group]}
        for what in ("best", "last"):
            values = [r[what] for r in group]
            row[f"{what}_mean"] = round(statistics.mean(values), 2)
            row[f"{what}_std"] = round(statistics.stdev(values), 2) if len(values) > 1 else 0.0
        row["seconds_mean"] = round(statistics.mean(r["seconds"] for r in group), 1)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glue-dir", required=True)
    parser.add_argument("--task", default="RTE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=["ours:bf16", "ours_random_batches:bf16", "plain:bf16", "ours:fp32"],
                        help="VARIANT:PRECISION, VARIANT one of " + ", ".join(VARIANTS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    jobs = []
    for seed in args.seeds:
        for item in args.variants:
            variant, _, precision = item.partition(":")
            if variant not in VARIANTS or precision not in ("fp32", "bf16"):
                parser.error(f"--variants: {item!r} is not VARIANT:fp32|bf16 with VARIANT one of {', '.join(VARIANTS)}")
            jobs.append({"task": args.task, "variant": variant, "precision": precision, "seed": seed, "glue_dir": args.glue_dir})
    runs, started = [], time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context, initializer=_one_thread) as pool:
        for result in pool.map(run, jobs):
            runs.append(result)
            print(result, file=sys.stderr, flush=True)
            write_result({"task": args.task, "recipe": RECIPE, "backbone": "minilm-l6", "threads_per_run": 1,
                          "runs_at_once": 2, "summary": summarise(runs), "runs": runs,
                          "wall_seconds": round(time.perf_counter() - started, 1),
                          "complete": len(runs) == len(jobs)}, args.out)


if __name__ == "__main__":
    main()
