"""Real speed beside FLOPs: batch-1 latency of early exits, batched dynamic inference, the cost of a
sweep by trace + replay, and the training overhead of SmartBERT's stage 1 over plain fine-tuning.

Timings are medians of ``repeats`` runs after ``warmup`` runs, on the machine at hand (threads as
torch sets them, or ``--threads``). Nothing here is part of the test suite: `make bench` runs it.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from smartbert.checkpoint import load_model
from smartbert.data.encode import EncodedSplit, collate
from smartbert.device import describe, device_info, synchronize, to_device
from smartbert.dynamic import DynamicResult, gather, predict_batched, predict_dynamic, predict_one
from smartbert.pipeline import DataOptions, check_task_fits, load_encoded, trace_meta
from smartbert.policies import POLICIES, ExitPolicy, make_policy
from smartbert.precision import MixedPrecision
from smartbert.provenance import peak_gpu_memory_mb, peak_rss_mb
from smartbert.sweep import summarise, trace_costs
from smartbert.trace import record_trace, replay
from smartbert.trainer import TrainConfig, make_optimizer, optimisation_step


def timed(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1, device: torch.device | None = None) -> tuple[Any, float]:
    """``fn()``'s result and its median wall time in seconds over ``repeats`` runs after ``warmup``;
    the clock is read only once ``device`` has finished its queued work (CUDA returns early)."""
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    times, result = [], None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def evenly(data: EncodedSplit, n: int | None) -> EncodedSplit:
    """``n`` examples spread evenly over ``data`` (all if ``n`` is None or larger)."""
    if n is None or n >= len(data):
        return data
    return data.subset(np.linspace(0, len(data) - 1, n).round().astype(int).tolist())


class Bench:
    """One trained model on one task's dev set, with its trace (for cost and metric)."""

    def __init__(self, model_dir: str | Path, task: str | None = None, n: int | None = None,
                 data: DataOptions | None = None, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.loaded = load_model(model_dir, device=self.device)
        self.spec = check_task_fits(self.loaded, task)
        full = load_encoded(self.spec, "dev", self.loaded.tokenizer, self.loaded.meta["train_config"]["max_seq_len"],
                            data or DataOptions())
        self.data = evenly(full, n)
        self.model = self.loaded.model.eval()
        self.trace = record_trace(self.model, self.data, meta=trace_meta(self.loaded, self.spec, "dev", model_dir))
        self.costs = trace_costs(self.trace)

    @property
    def method(self) -> str:
        return self.loaded.method.name

    def policy(self, threshold: float | None) -> ExitPolicy:
        return self.loaded.method.policy(self.loaded.method_config, threshold)

    def thresholds(self, thresholds: Sequence[float]) -> list[float | None]:
        """``thresholds`` for an early-exit method; [None] (its one static setting) otherwise."""
        return [None] if self.loaded.method.default_policy == "none" else list(thresholds)

    def throughput(self, threshold: float | None, batch_size: int, repeats: int = 3, warmup: int = 1) -> dict:
        """Batched dynamic inference (compacting): examples per second, metric and cost %."""
        policy = self.policy(threshold)
        result, seconds = timed(lambda: predict_batched(self.model, self.data, policy, batch_size), repeats, warmup,
                                self.device)
        summary = summarise(self.trace, result, self.costs)
        return {"method": self.method, "threshold": threshold, "batch_size": batch_size,
                "examples_per_s": len(self.data) / seconds, "metric": summary["metric"], "cost_pct": summary["cost_pct_paper"],
                "device": describe(device_info(self.device))}

    def sweep_cost(self, thresholds: int = 20, repeats: int = 3) -> dict:
        """A ``thresholds``-point sweep by one trace + replays against one batch-1 dynamic pass."""
        grid = list(POLICIES[self.loaded.method.default_policy].grid)
        values = [grid[round(i * (len(grid) - 1) / (thresholds - 1))] for i in range(thresholds)]

        def by_replay():
            trace = record_trace(self.model, self.data)
            return [replay(trace, make_policy(self.loaded.method.default_policy, v)) for v in values]

        _, sweep_seconds = timed(by_replay, repeats, 1, self.device)
        _, pass_seconds = timed(lambda: predict_dynamic(self.model, self.data, self.policy(values[len(values) // 2])),
                                repeats, 1, self.device)
        return {"method": self.method, "thresholds": thresholds, "sweep_by_replay_s": sweep_seconds,
                "one_dynamic_pass_s": pass_seconds, "ratio": sweep_seconds / pass_seconds,
                "twenty_dynamic_passes_s": thresholds * pass_seconds}


def paired_latency(runs: Sequence[tuple[Bench, float | None]], repeats: int = 3, warmup: int = 1) -> list[dict]:
    """Batch-1 dynamic inference (:func:`predict_one`) of several (model, threshold) runs on the same
    examples, interleaved example by example (each example goes through every run, in an order
    that rotates, before the next): a burst of load on a shared machine slows every run alike,
    which timing one run after another does not give. Each example is timed from its input on the
    device to its prediction on the host, with the device synchronised at both ends. ms per example
    is the median over ``repeats`` of a pass's total / n; p50/p90/p99 are percentiles over examples
    of each example's median time; metric and cost % come from the predictions of the last pass."""
    n = len(runs[0][0].data)
    if any(len(bench.data) != n for bench, _ in runs):
        raise ValueError("paired latency needs the same examples for every run: build each Bench with the same task and n")
    devices = {bench.device for bench, _ in runs}
    if len(devices) != 1:
        raise ValueError(f"paired latency needs every model on one device, got {sorted(map(str, devices))}")
    device = devices.pop()
    inputs = [[to_device(collate(bench.data, [i]), device) for i in range(n)] for bench, _ in runs]  # not timed
    policies = [bench.policy(threshold) for bench, threshold in runs]
    seconds = np.zeros((repeats, len(runs), n))
    for repeat in range(warmup + repeats):
        results: list[list[DynamicResult]] = [[] for _ in runs]
        for i in range(n):
            for r in np.roll(np.arange(len(runs)), -i):
                batch = inputs[r][i]
                synchronize(device)
                start = time.perf_counter()
                results[r].append(predict_one(runs[r][0].model, batch["input_ids"], batch["token_type_ids"], policies[r]))
                synchronize(device)
                if repeat >= warmup:
                    seconds[repeat - warmup, r, i] = time.perf_counter() - start
    where = describe(device_info(device))
    rows = []
    for r, (bench, threshold) in enumerate(runs):
        summary = summarise(bench.trace, gather(results[r]), bench.costs)
        per_example_ms = 1000 * np.median(seconds[:, r], axis=0)
        rows.append({"method": bench.method, "threshold": threshold,
                     "ms_per_example": 1000 * float(np.median(seconds[:, r].sum(axis=1))) / n,
                     **{f"p{q}_ms": float(np.percentile(per_example_ms, q)) for q in (50, 90, 99)},
                     "metric": summary["metric"], "cost_pct": summary["cost_pct_paper"], "n": n, "repeats": repeats,
                     "device": where})
    return rows


def latency_rows(benches: Sequence[Bench], thresholds: Sequence[float], patience: Sequence[int] = (3, 4),
                 repeats: int = 3) -> list[dict]:
    """Table 1's latency points: every model at its exit rule's table thresholds (S, or patience for
    patience-based exits; static models once), timed together by :func:`paired_latency`, with the
    measured speedup over the BERT model (if given) beside the FLOPs-predicted one (100 / cost %)."""
    runs = [(bench, value) for bench in benches
            for value in bench.thresholds(patience if bench.loaded.method.default_policy == "patience" else thresholds)]
    rows = paired_latency(runs, repeats)
    bert = next((r for r in rows if r["method"] == "bert"), None)
    for row, (bench, _) in zip(rows, runs):
        # both speedups over the BERT model on the same examples (cost % may be relative to another backbone)
        row.update(task=bench.spec.name, policy=bench.loaded.method.default_policy, threads=torch.get_num_threads(),
                   label=bench.trace.meta["label"],
                   threshold=0.0 if row["threshold"] is None else row["threshold"],  # static: as in its sweep
                   measured_speedup=bert["ms_per_example"] / row["ms_per_example"] if bert else float("nan"),
                   flops_speedup=(bert["cost_pct"] if bert else 100.0) / row["cost_pct"])
        row["measured_over_flops"] = row["measured_speedup"] / row["flops_speedup"]
    return rows


def latency_table(model_dirs: Sequence[str | Path], task: str, thresholds: Sequence[float], patience: Sequence[int],
                  n: int = 100, repeats: int = 3, device: torch.device | str = "cpu") -> list[dict]:
    """:func:`latency_rows` of the models in ``model_dirs`` on ``n`` dev examples of ``task`` spread
    over the set, every model on ``device``."""
    return latency_rows([Bench(directory, task, n, device=device) for directory in model_dirs], thresholds, patience, repeats)


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
    output = subprocess.run([sys.executable, "-m", "smartbert.bench", json.dumps(arguments)],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _train_steps(method_name: str, task: str, backbone: str, batch_size: int, seq_len: int, steps: int,
                 precision: str, device: str = "cpu") -> dict:
    from smartbert import backbones
    from smartbert.data.encode import collate
    from smartbert.data.tasks import get_task
    from smartbert.registry import get_method

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


# ---- the suite `smartbert bench` / `make bench` runs ---------------------------------------------

TARGETS = {
    "latency": "SmartBERT's measured batch-1 speedup over BERT >= 0.85 x its FLOPs-predicted speedup (100 / cost %)",
    "batched": "batch-32 dynamic throughput at S = 0.3 >= 0.7 x (static BERT throughput / cost)",
    "sweep": "a 20-threshold sweep by trace + replay costs <= 1.3 x one batch-1 dynamic pass",
    "training": "SmartBERT stage-1 step time <= 1.5 x BERT fine-tuning at the same batch and length",
    "official": "SmartBERT training on real RTE (MiniLM-L6, batch 16, 5 + 4 epochs) takes <= half the official code's "
                "time per stage (861 s, 367 s) with no more memory (2.4 GB)",
}


def run_suite(models: str | Path, task: str, out: str | Path, thresholds: Sequence[float] = (0.1, 0.3, 0.5),
              n: int = 200, repeats: int = 3, batch_size: int = 32, train_steps: int = 10,
              methods: Sequence[str] = ("bert", "deebert", "fastbert", "smartbert"),
              official_runs: Sequence[str | Path] = (), device: torch.device | str = "cpu") -> dict:
    """Every benchmark on ``models/{task}/{method}/default/seed1``; JSON per benchmark and summary.md in
    ``out``; ``official_runs``: full SmartBERT trainings compared with the official code's."""
    from smartbert.io import atomic_write_text

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
    backbone = benches["bert"].loaded.meta["backbone"]
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


if __name__ == "__main__":  # the fresh process of training_step_cost: JSON arguments in, JSON result out
    print(json.dumps(_train_steps(**json.loads(sys.argv[1]))))
