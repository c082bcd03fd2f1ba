"""The developer benchmarks `make bench` runs on the quick profile's trained models: batch-1
latency against FLOPs, batched dynamic inference, the cost of a sweep by trace + replay, the
training overhead of SmartBERT's stage 1 over plain fine-tuning, and full trainings against the
official code's times. Not part of the test suite. Writes one JSON per benchmark and summary.md.

Usage: python benchmarks/suite.py [--models results/quick/models] [--task SST-2] [--examples 200]
[--repeats 3] [--official-runs DIR ...] [--device auto] [--out results/quick/bench]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from smartbert.core.provenance import describe, peak_rss_mb
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.inference.latency import Bench, latency_rows
from smartbert.modeling.device import device_info, peak_gpu_memory_mb, resolve_device, synchronize, to_device
from smartbert.training.config import TrainConfig
from smartbert.training.precision import MixedPrecision
from smartbert.training.trainer import make_optimizer, optimisation_step

#: The official SmartBERT code on real RTE, MiniLM-L6, batch 16, 5 + 4 epochs, inputs padded to 128,
#: 2 threads on this kind of machine (issue 6's measurement): seconds per stage and peak RSS.
OFFICIAL_RTE = {"stage1": 861.0, "stage2": 367.0, "peak_rss_MB": 2.4 * 1024, "eval_s_per_threshold": 6.0}


def official_comparison(model_dirs: Sequence[str | Path]) -> list[dict]:
    """Our full SmartBERT trainings (``smartbert train``'s model directories, e.g. with
    ``config/variants/smartbert-official.yaml``) beside the official code's times and memory."""
    rows = []
    for directory in model_dirs:
        path = Path(directory) / "smartbert.json"
        meta = json.loads(path.read_text()) if path.is_file() else {}
        if meta.get("method") != "smartbert" or meta.get("task") != "RTE":
            raise FileNotFoundError(f"--official-runs takes SmartBERT models trained on RTE (smartbert train --task RTE "
                                    f"--method smartbert); {directory} is {meta.get('method', 'not a model')}"
                                    f"{' on ' + meta['task'] if 'task' in meta else ''}")
        seconds = {stage["stage"]: stage["seconds"] for stage in meta["stages"]}
        row = {"model": str(directory), "task": meta["task"], "train_examples": meta["sizes"]["train"],
               "batch_size": meta["train_config"]["batch_size"], "precision": meta["train_config"].get("precision", "fp32"),
               "epochs": [meta["method_config"]["stage1_epochs"], meta["method_config"]["stage2_epochs"]],
               "stage1_s": seconds.get("stage1"), "stage2_s": seconds.get("stage2"), "peak_rss_MB": meta.get("peak_rss_MB")}
        row["stage1_over_official"] = row["stage1_s"] / OFFICIAL_RTE["stage1"]
        row["stage2_over_official"] = row["stage2_s"] / OFFICIAL_RTE["stage2"]
        row["meets_target"] = (row["stage1_over_official"] <= 0.5 and row["stage2_over_official"] <= 0.5
                               and (row["peak_rss_MB"] or math.inf) <= OFFICIAL_RTE["peak_rss_MB"])
        rows.append(row)
    return rows


def training_step_cost(method: str, task: str, backbone: str, batch_size: int, seq_len: int, steps: int,
                       precision: str = "fp32", device: torch.device | str = "cpu") -> dict:
    """Seconds per optimisation step and peak RSS (and GPU memory) of ``method``'s first trained
    stage, measured in a fresh process (so peak memory is that method's alone)."""
    arguments = {"method_name": method, "task": task, "backbone": backbone, "batch_size": batch_size, "seq_len": seq_len,
                 "steps": steps, "precision": precision, "device": str(device)}
    output = subprocess.run([sys.executable, __file__, "--train-steps", json.dumps(arguments)],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _train_steps(method_name: str, task: str, backbone: str, batch_size: int, seq_len: int, steps: int,
                 precision: str, device: str = "cpu") -> dict:
    from smartbert.data.encode import collate
    from smartbert.data.tasks import get_task
    from smartbert.methods.registry import get_method
    from smartbert.modeling import backbones

    spec, method = get_task(task), get_method(method_name)
    tokenizer = backbones.load_tokenizer(backbone)
    train = load_encoded(spec, "train", tokenizer, seq_len, DataOptions())
    config, where = method.config_class(), torch.device(device)
    model = method.build(backbones.load_backbone(backbone, seed=0), spec.num_labels, config).to(where)
    stage = next(s for s in method.stages(config) if not s.reuse)
    params = list(dict.fromkeys(stage.trainable(model)))
    optimizer = make_optimizer([{"params": params}], 2e-5)
    train_config = TrainConfig(batch_size=batch_size, max_seq_len=seq_len, precision=precision)
    amp = MixedPrecision(precision, where)
    model.train()
    times = []
    for step in range(steps + 2):
        batch = collate(train, list(range(step * batch_size, (step + 1) * batch_size)))
        batch = to_device(_pad_to(batch, seq_len), where)  # as the official code: every input padded to the max length
        synchronize(where)
        start = time.perf_counter()
        optimisation_step(model, stage, batch, 0, params, optimizer, train_config, amp=amp)
        synchronize(where)
        if step >= 2:
            times.append(time.perf_counter() - start)
    return {"method": method_name, "stage": stage.name, "batch_size": batch_size, "seq_len": seq_len, "precision": precision,
            "s_per_step": statistics.median(times), "peak_rss_MB": peak_rss_mb(), "peak_gpu_memory_MB": peak_gpu_memory_mb(where),
            "device": describe(device_info(where, precision))}


def _pad_to(batch: dict, length: int) -> dict:
    out = dict(batch)
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        tensor = batch[key]
        out[key] = torch.nn.functional.pad(tensor, (0, length - tensor.shape[1]))
    return out


def machine(device: torch.device | str = "cpu") -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(), "device": device_info(torch.device(device))}


# ---- the suite `make bench` runs -------------------------------------------------------------------

TARGETS = {
    "latency": "SmartBERT's measured batch-1 speedup over BERT >= 0.85 x its FLOPs-predicted speedup (100 / cost %)",
    "batched": "batch-32 dynamic throughput at S = 0.3 >= 0.7 x (static BERT throughput / cost)",
    "sweep": "a 20-threshold sweep by trace + replay costs <= 1.3 x one batch-1 dynamic pass",
    "training": "SmartBERT stage-1 step time <= 1.5 x BERT fine-tuning at the same batch and length",
    "official": "SmartBERT training on real RTE (MiniLM-L6, batch 16, 5 + 4 epochs) takes <= half the official code's "
                "time per stage (861 s, 367 s) with no more memory (2.4 GB)",
}


def run_suite(models: str | Path, task: str, out: str | Path, thresholds: dict[str, Sequence[float]] | None = None,
              n: int = 200, repeats: int = 3, batch_size: int = 32, train_steps: int = 10,
              methods: Sequence[str] = ("bert", "deebert", "fastbert", "smartbert"),
              official_runs: Sequence[str | Path] = (), device: torch.device | str = "cpu") -> dict:
    """Every benchmark on ``models/{task}/{method}/default/seed1``; JSON per benchmark and summary.md in
    ``out``; ``official_runs``: full SmartBERT trainings compared with the official code's."""
    from smartbert.core.io import atomic_write_text

    out = Path(out)
    official = official_comparison(official_runs)  # read first: a bad directory fails before any timing
    benches = {m: Bench(Path(models) / task / m / "default" / "seed1", task, n, device=device) for m in methods
               if (Path(models) / task / m / "default" / "seed1").is_dir()}
    if "bert" not in benches or "smartbert" not in benches:
        raise FileNotFoundError(f"need trained bert and smartbert models under {models}/{task}/*/default/seed1: "
                                "run the workflow first (make reproduce)")
    latency = latency_rows(list(benches.values()), thresholds, repeats=repeats)
    static = benches["bert"].throughput(None, batch_size, repeats)
    dynamic = benches["smartbert"].throughput(0.3, batch_size, repeats)
    batched = {"static_bert": static, "smartbert": dynamic,
               "ratio_to_target_basis": dynamic["examples_per_s"] / (static["examples_per_s"] * 100.0 / dynamic["cost_pct"])}
    sweep = benches["smartbert"].sweep_cost(20, repeats)
    backbone = benches["bert"].loaded.meta.backbone
    training = [training_step_cost(m, task, backbone, 16, 128, train_steps, precision, device)
                for precision in ("fp32", "bf16") for m in ("bert", "smartbert")]
    results = {"machine": machine(device), "task": task, "n_examples": n, "repeats": repeats, "latency": latency,
               "batched": batched, "sweep": sweep, "training": training,
               "training_ratio": training[1]["s_per_step"] / training[0]["s_per_step"],
               "official": official}
    for name in ("latency", "batched", "sweep", "training", "official"):
        atomic_write_text(out / f"{name}.json", json.dumps({"machine": results["machine"], "task": task, name: results[name]},
                                                           indent=2, default=float) + "\n")
    atomic_write_text(out / "summary.md", summary_markdown(results))
    return results


def summary_markdown(results: dict) -> str:
    smart = [r for r in results["latency"] if r["method"] == "smartbert"]
    lines = [f"# Benchmarks ({results['task']} dev, {results['n_examples']} examples, median of {results['repeats']})", "",
             f"Machine: {results['machine']}", "", "## Batch-1 latency", "",
             "| method | S | ms / example | metric | cost % | measured speedup | FLOPs speedup | measured / FLOPs |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {'' if r['threshold'] is None else r['threshold']} | {r['ms_per_example']:.2f} | {r['metric']:.1f} | "
              f"{r['cost_pct']:.1f} | {r['measured_speedup']:.2f} | {r['flops_speedup']:.2f} | {r['measured_over_flops']:.2f} |"
              for r in results["latency"]]
    worst = min(r["measured_over_flops"] for r in smart)
    b, s, t = results["batched"], results["sweep"], results["training"]
    lines += ["", "## Training step (batch 16, inputs padded to 128, fresh process each)", "",
              "| method | stage | precision | s / step | peak RSS MB |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['stage']} | {r['precision']} | {r['s_per_step']:.3f} | {r['peak_rss_MB']:.0f} |" for r in t]
    official = results.get("official") or []
    if official:
        lines += ["", "## Against the official code (full training on real RTE)", "",
                  f"Official: stage 1 {OFFICIAL_RTE['stage1']:.0f} s, stage 2 {OFFICIAL_RTE['stage2']:.0f} s, "
                  f"{OFFICIAL_RTE['peak_rss_MB'] / 1024:.1f} GB peak RSS, about {OFFICIAL_RTE['eval_s_per_threshold']:.0f} s "
                  f"per evaluated threshold (thop); ours: a threshold is a replay of the trace "
                  f"({s['sweep_by_replay_s'] / s['thresholds']:.3f} s each in the sweep benchmark above, trace included).", "",
                  "| run | precision | examples | stage 1 s (x official) | stage 2 s (x official) | peak RSS MB | target met |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {Path(r['model']).name} | {r['precision']} | {r['train_examples']} | {r['stage1_s']:.0f} "
                  f"({r['stage1_over_official']:.2f}) | {r['stage2_s']:.0f} ({r['stage2_over_official']:.2f}) | "
                  f"{r['peak_rss_MB'] or float('nan'):.0f} | {'yes' if r['meets_target'] else 'no'} |" for r in official]
    checks = [
        ("latency", worst >= 0.85, f"worst SmartBERT measured/FLOPs speedup {worst:.2f}"),
        ("batched", b["ratio_to_target_basis"] >= 0.7,
         f"{b['smartbert']['examples_per_s']:.1f} ex/s at cost {b['smartbert']['cost_pct']:.1f}% vs static BERT "
         f"{b['static_bert']['examples_per_s']:.1f} ex/s: {b['ratio_to_target_basis']:.2f} of BERT/cost"),
        ("sweep", s["ratio"] <= 1.3, f"sweep {s['sweep_by_replay_s']:.2f} s vs one pass {s['one_dynamic_pass_s']:.2f} s "
                                     f"(ratio {s['ratio']:.2f}; 20 passes would take {s['twenty_dynamic_passes_s']:.1f} s)"),
        ("training", results["training_ratio"] <= 1.5,
         f"fp32: {t[1]['s_per_step']:.3f} s vs {t[0]['s_per_step']:.3f} s per step (x{results['training_ratio']:.2f}); "
         f"peak RSS {t[1]['peak_rss_MB']:.0f} MB vs {t[0]['peak_rss_MB']:.0f} MB"),
    ]
    if official:
        met = [f"{Path(r['model']).name} ({r['precision']})" for r in official if r["meets_target"]]
        checks.append(("official", bool(met), "met by " + ", ".join(met) if met else "no run meets it (table above)"))
    lines += ["", "## Targets", "", "| benchmark | target | met | measured |", "|---|---|---|---|"]
    lines += [f"| {name} | {TARGETS[name]} | {'yes' if ok else 'no'} | {text} |" for name, ok, text in checks]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="results/quick/models", help="the workflow's model folder (quick profile)")
    parser.add_argument("--task", default="SST-2", help="task whose trained models are benchmarked")
    parser.add_argument("--examples", type=int, default=200, help="dev examples timed (spread over the dev set)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median) after one warm-up")
    parser.add_argument("--out", default="results/quick/bench", help="folder for the JSON files and summary.md")
    parser.add_argument("--official-runs", nargs="*", default=[], metavar="DIR",
                        help="full SmartBERT trainings on RTE to set beside the official code's times")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--train-steps", default=None, help=argparse.SUPPRESS)  # internal: one fresh timing process
    args = parser.parse_args()
    if args.train_steps:  # the fresh process of training_step_cost: JSON arguments in, JSON result out
        print(json.dumps(_train_steps(**json.loads(args.train_steps))))
        return
    try:
        run_suite(args.models, args.task, args.out, n=args.examples, repeats=args.repeats, official_runs=args.official_runs,
                  device=resolve_device(args.device))
    except FileNotFoundError as error:
        raise SystemExit(f"bench: error: {error}") from None
    print((Path(args.out) / "summary.md").read_text())


if __name__ == "__main__":
    main()
