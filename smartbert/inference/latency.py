"""Batch-1 latency of trained models for the workflow (Table 1's ``ms`` column, the latency panel
beside Figure 4, REPORT.md's "FLOPs savings in wall-clock time"): every model of a task timed on the
same dev examples, interleaved example by example, beside its FLOPs-predicted speedup over BERT.

Timings are medians of ``repeats`` runs after ``warmup`` runs, on the machine at hand (threads as
torch sets them, or ``--threads``), the device synchronised around every timed region. The
developer benchmarks built on it live in ``benchmarks/`` (``make bench``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smartbert.core.provenance import describe
from smartbert.data.encode import EncodedSplit, collate
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.inference.dynamic import DynamicResult, gather, predict_batched, predict_dynamic, predict_one
from smartbert.inference.record import record_trace
from smartbert.inference.tracing import check_task_fits, trace_meta
from smartbert.methods.checkpoint import load_model
from smartbert.modeling.device import device_info, synchronize, to_device
from smartbert.modeling.flops import trace_costs
from smartbert.replay.policies import POLICIES, ExitPolicy, make_policy
from smartbert.replay.sweep import summarise
from smartbert.replay.trace import replay


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
        full = load_encoded(self.spec, "dev", self.loaded.tokenizer, self.loaded.meta.max_seq_len,
                            data or DataOptions())
        self.data = evenly(full, n)
        self.model = self.loaded.model.eval()
        self.trace = record_trace(self.model, self.data, meta=trace_meta(self.loaded, self.spec, "dev", model_dir))
        self.costs = trace_costs(self.trace.meta)

    @property
    def method(self) -> str:
        return self.loaded.method.name

    def policy(self, threshold: float | None) -> ExitPolicy:
        return self.loaded.method.policy(self.loaded.method_config, threshold)

    def thresholds(self, configured: Mapping[str, Sequence[float]]) -> list[float | None]:
        """The model's Table 1 points: its exit rule's thresholds in ``configured`` (keyed by
        policy; the rule's defaults where absent), or [None] for a static model."""
        return self.loaded.method.policy_class.table_thresholds(configured)

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
            for r in (int(k) for k in np.roll(np.arange(len(runs)), -i)):
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


def latency_rows(benches: Sequence[Bench], thresholds: Mapping[str, Sequence[float]] | None = None,
                 repeats: int = 3, at: Mapping[str, Sequence[float]] | None = None) -> list[dict]:
    """Table 1's latency points: every model at its exit rule's table thresholds (``thresholds``
    keyed by policy, each rule's defaults where absent; static models once), timed together by
    :func:`paired_latency`, with the measured speedup over the BERT model (if given) beside the
    FLOPs-predicted one (100 / cost %). ``at`` (keyed by method) replaces Table 1's points: each
    early-exit model at its own thresholds there (calibrated ones), static models once."""
    def points(bench: Bench) -> Sequence[float | None]:
        if at is None or bench.loaded.method.policy_class.is_static():
            return bench.thresholds(thresholds or {})
        return list(at.get(bench.method, []))

    runs = [(bench, value) for bench in benches for value in points(bench)]
    rows = paired_latency(runs, repeats)
    bert = next((r for r in rows if r["method"] == "bert"), None)
    for row, (bench, _) in zip(rows, runs):
        # both speedups over the BERT model on the same examples (cost % may be relative to another backbone)
        row.update(task=bench.spec.name, policy=bench.loaded.method.default_policy, threads=torch.get_num_threads(),
                   label=bench.trace.meta.label,
                   threshold=0.0 if row["threshold"] is None else row["threshold"],  # static: as in its sweep
                   measured_speedup=bert["ms_per_example"] / row["ms_per_example"] if bert else float("nan"),
                   flops_speedup=(bert["cost_pct"] if bert else 100.0) / row["cost_pct"])
        row["measured_over_flops"] = row["measured_speedup"] / row["flops_speedup"]
    return rows


def latency_table(model_dirs: Sequence[str | Path], task: str, thresholds: Mapping[str, Sequence[float]] | None = None,
                  n: int = 100, repeats: int = 3, device: torch.device | str = "cpu",
                  at: Mapping[str, Sequence[float]] | None = None) -> list[dict]:
    """:func:`latency_rows` of the models in ``model_dirs`` on ``n`` dev examples of ``task`` spread
    over the set, every model on ``device``."""
    return latency_rows([Bench(directory, task, n, device=device) for directory in model_dirs], thresholds, repeats, at)
