"""`make gpu-check`: the suite's first run on a GPU, in one prepared call of at most ~6 minutes.

Writes ``results/gpu-check/*.json`` (one file per check, and ``summary.json``):

- ``environment``: the device as provenance records it, versions, what the bundle brought;
- ``tests``: the tests marked ``gpu`` (the CUDA variants of training, tracing, inference, resume);
- ``training``: BERT and SmartBERT trained on real RTE from MiniLM-L6 on CUDA in fp32 and bf16:
  examples/s per stage, peak GPU memory, dev metric (accuracy skipped, with a line saying so,
  where the real weights or the data did not travel: then throughput is on MiniLM-shaped random
  weights);
- ``inference``: replay == batch-1 dynamic == batched (compacting) inference on CUDA for every
  registered method at five thresholds;
- ``latency``: batch-1 latency (median, p50/p90/p99) of BERT and SmartBERT at S = 0.1/0.3/0.5, and
  batched throughput at batch 1-128, static BERT against SmartBERT's compaction.

Without a GPU it prints one line and exits 0. ``--allow-cpu --quick`` runs every check on the CPU
with a tiny model on synthetic data (the test suite does this, so the script works when first run).
Each check that fails is recorded with its error and the others still run; the exit code is 1
if any check failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / ".gpu-check"
BUDGET_S = 330  # 5.5 min of work: a second try fits in the 15 minutes a GPU machine is lent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results" / "gpu-check"))
    parser.add_argument("--backbone", default=None, help="default: .gpu-check/minilm-l6, else the bundled minilm-l6")
    parser.add_argument("--glue-dir", default=None, help="default: .gpu-check/glue, else $GLUE_DIR, else ../shared/glue")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="checks that would start after this are skipped")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU (to test this script)")
    parser.add_argument("--quick", action="store_true", help="tiny random backbone, synthetic data, one epoch, no pytest")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu-check: torch is not installed here: nothing checked")
        return 0
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f"gpu-check: no CUDA GPU on this machine (torch {torch.__version__}): nothing checked; "
              "run `make gpu-check` on a GPU machine")
        return 0
    from smartbert.modeling.device import resolve_device

    check = Check(args, resolve_device("cuda" if torch.cuda.is_available() else "cpu"))
    return check.run()


class Check:
    def __init__(self, args: argparse.Namespace, device) -> None:
        self.args, self.device, self.started = args, device, time.perf_counter()
        self.out = Path(args.out)
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.backbone, self.backbone_note = self._backbone()
        self.task, self.data, self.data_note = self._data()
        self.models: dict[tuple[str, str], Path] = {}

    # ---- inputs ----------------------------------------------------------------------------------

    def _backbone(self) -> tuple[str, str]:
        if self.args.quick:
            return "tiny", "tiny random BERT (--quick)"
        chosen = self.args.backbone or (str(BUNDLE / "minilm-l6") if (BUNDLE / "minilm-l6").is_dir() else "minilm-l6")
        folder = Path(chosen)
        if folder.is_dir() and not (folder / "model.safetensors").is_file():
            return self._random_minilm(folder), "MiniLM-shaped random weights (the real ones did not travel): accuracy skipped"
        return chosen, f"{chosen} (pretrained all-MiniLM-L6-v2)"

    def _random_minilm(self, folder: Path) -> str:
        from transformers import AutoTokenizer, BertConfig, BertModel

        target = self.work / "random-minilm"
        BertModel(BertConfig.from_pretrained(str(folder)), add_pooling_layer=False).save_pretrained(str(target))
        AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(target))
        return str(target)

    def _data(self):
        from smartbert.data.prepare import DataOptions

        if self.args.quick:
            return "synthetic-nli", DataOptions("synthetic"), "synthetic NLI (--quick)"
        for candidate in (self.args.glue_dir, BUNDLE / "glue", os.environ.get("GLUE_DIR"), ROOT.parent / "shared" / "glue"):
            if candidate and (Path(candidate) / "RTE" / "train.tsv").is_file():
                return "RTE", DataOptions("tsv", str(candidate)), f"real RTE from {candidate}"
        return "synthetic-nli", DataOptions("synthetic"), "no RTE TSVs here (make gpu-bundle copies them): synthetic NLI, accuracy skipped"

    @property
    def accuracy_meaningful(self) -> bool:
        return self.task == "RTE" and "random" not in self.backbone_note

    # ---- the run ---------------------------------------------------------------------------------

    def run(self) -> int:
        checks: list[tuple[str, Callable[[], dict]]] = [("environment", self.environment), ("tests", self.gpu_tests),
                                                        ("training", self.training), ("inference", self.inference),
                                                        ("latency", self.latency)]
        summary = {}
        for name, fn in checks:
            elapsed = time.perf_counter() - self.started
            if elapsed > self.args.budget_s:
                result = {"ok": None, "skipped": f"time budget of {self.args.budget_s:.0f} s spent ({elapsed:.0f} s)"}
            else:
                began = time.perf_counter()
                try:
                    result = {"ok": True, **fn()}
                except Exception as error:  # one failing check must not hide the others
                    result = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
                result["seconds"] = round(time.perf_counter() - began, 1)
            summary[name] = {k: result[k] for k in ("ok", "seconds", "skipped", "error") if k in result}
            self._write(name, result)
            print(f"gpu-check {name}: {summary[name]}", flush=True)
        summary["total_seconds"] = round(time.perf_counter() - self.started, 1)
        self._write("summary", summary)
        return 1 if any(v.get("ok") is False for v in summary.values() if isinstance(v, dict)) else 0

    def _write(self, name: str, result: dict) -> None:
        from smartbert.core.io import atomic_write_text

        atomic_write_text(self.out / f"{name}.json", json.dumps(result, indent=2, default=str) + "\n")

    # ---- checks ----------------------------------------------------------------------------------

    def environment(self) -> dict:
        from smartbert.core.provenance import git_commit, versions
        from smartbert.modeling.device import device_info

        manifest = BUNDLE / "manifest.json"
        return {"device": device_info(self.device), "versions": versions(), "commit": git_commit(ROOT),
                "backbone": self.backbone_note, "data": self.data_note,
                "bundle": json.loads(manifest.read_text()) if manifest.is_file() else None}

    def gpu_tests(self) -> dict:
        if self.args.quick:
            return {"skipped": "--quick"}
        remaining = max(30.0, self.args.budget_s / 2 - (time.perf_counter() - self.started))
        command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", str(ROOT / "tests")]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=remaining,
                                  env=dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                                           CUBLAS_WORKSPACE_CONFIG=":4096:8"))  # before CUDA starts: the determinism test
        except subprocess.TimeoutExpired as error:
            return {"passed": False, "timeout_s": remaining, "tail": (error.stdout or b"")[-3000:].decode(errors="replace")
                    if isinstance(error.stdout, bytes) else str(error.stdout)[-3000:]}
        lines = (done.stdout + done.stderr).strip().splitlines()
        if done.returncode not in (0, 5):
            raise AssertionError(f"pytest -m gpu failed ({lines[-1] if lines else 'no output'}); tail:\n" + "\n".join(lines[-40:]))
        return {"returncode": done.returncode, "result": lines[-1] if lines else "", "tail": "\n".join(lines[-15:])}

    def training(self) -> dict:
        import torch

        from smartbert.training.config import TrainConfig
        from smartbert.training.pipeline import train_method
        from smartbert.training.precision import get_precision

        precisions = ["fp32"]
        try:
            get_precision("bf16").check(self.device)
            precisions.append("bf16")
        except Exception as error:
            skipped_bf16 = str(error)
        else:
            skipped_bf16 = None
        config = TrainConfig(epochs=1, max_train_examples=64, seed=1) if self.args.quick else TrainConfig(seed=1)
        runs = []
        for precision in precisions:
            for method in ("bert", "smartbert"):
                out = self.work / f"{method}-{precision}"
                if self.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(self.device)
                summary = train_method(self.task, method, self.backbone, out,
                                       dataclasses.replace(config, precision=precision),
                                       data=self.data, progress=False, resume=False, device=self.device)
                self.models[(method, precision)] = out
                stages = [{"stage": s["stage"], "seconds": round(s["seconds"], 1),
                           "examples_per_s": [e.get("examples_per_s") for e in s["epochs"]]} for s in summary.stages]
                runs.append({"method": method, "precision": precision, "train_examples": summary.sizes["train"],
                             "stages": stages, "peak_gpu_memory_MB": summary.peak_gpu_memory_MB,
                             "dev_metric": summary.dev_metrics_no_exit["metric"] if self.accuracy_meaningful else None,
                             "dev_exit_heads": summary.dev_exit_head_metrics if self.accuracy_meaningful else None,
                             "device": summary.device})
        return {"task": self.task, "backbone": self.backbone_note, "data": self.data_note, "runs": runs,
                "bf16_skipped": skipped_bf16,
                "accuracy": "measured" if self.accuracy_meaningful else f"skipped: {self.backbone_note}; {self.data_note}"}

    def inference(self) -> dict:
        import numpy as np
        import torch

        from smartbert.data.prepare import load_encoded
        from smartbert.data.tasks import get_task
        from smartbert.inference.dynamic import predict_batched, predict_dynamic
        from smartbert.inference.record import record_trace
        from smartbert.methods.checkpoint import load_model
        from smartbert.methods.registry import get_method, method_names
        from smartbert.modeling import backbones
        from smartbert.replay.policies import POLICIES
        from smartbert.replay.trace import replay

        spec = get_task(self.task)
        tokenizer = backbones.load_tokenizer(self.backbone)
        dev = load_encoded(spec, "dev", tokenizer, 128, self.data)
        dev = dev.subset(range(min(64, len(dev))))
        results, all_equal = [], True
        for name in method_names():
            method = get_method(name)
            if (name, "fp32") in self.models:  # trained: its exits mean something
                model = load_model(self.models[(name, "fp32")], device=self.device).model
            else:
                torch.manual_seed(0)
                model = method.build(backbones.load_backbone(self.backbone, seed=0), spec.num_labels,
                                     method.config_class()).to(self.device).eval()
            grid = POLICIES[method.default_policy].grid
            trace = record_trace(model, dev, batch_size=16, meta={})
            for threshold in sorted({grid[0], grid[len(grid) // 4], grid[len(grid) // 2], grid[3 * len(grid) // 4], grid[-1]}):
                policy = method.policy(method.config_class(), threshold)
                replayed, single, batched = replay(trace, policy), predict_dynamic(model, dev, policy), predict_batched(model, dev, policy, 16)
                equal = {field: bool(np.array_equal(getattr(replayed, field), getattr(single, field))
                                     and np.array_equal(getattr(single, field), getattr(batched, field)))
                         for field in ("exit_layer", "prediction", "layers_run", "heads", "gates")}
                all_equal &= all(equal.values())
                results.append({"method": name, "threshold": threshold, "equal": equal,
                                "mean_exit_layer": float(replayed.exit_layer.mean())})
        if not all_equal:
            raise AssertionError("replay, dynamic and batched inference disagree on CUDA: " +
                                 json.dumps([r for r in results if not all(r["equal"].values())]))
        return {"examples": len(dev), "cases": results, "all_equal": all_equal}

    def latency(self) -> dict:
        from smartbert.inference.latency import Bench, latency_rows

        if ("bert", "fp32") not in self.models or ("smartbert", "fp32") not in self.models:
            return {"skipped": "no trained fp32 BERT and SmartBERT models (the training check failed or was skipped)"}
        n = 20 if self.args.quick else 100
        benches = {m: Bench(self.models[(m, "fp32")], self.task, n, self.data, device=self.device) for m in ("bert", "smartbert")}
        batch1 = latency_rows(list(benches.values()), repeats=1 if self.args.quick else 3)
        batched = []
        for batch_size in (1, 8, 32, 128):
            static = benches["bert"].throughput(None, batch_size, repeats=1 if self.args.quick else 3)
            dynamic = benches["smartbert"].throughput(0.3, batch_size, repeats=1 if self.args.quick else 3)
            batched.append({"batch_size": batch_size, "bert_examples_per_s": static["examples_per_s"],
                            "smartbert_examples_per_s": dynamic["examples_per_s"], "smartbert_cost_pct": dynamic["cost_pct"],
                            # 1.0 = compaction turns SmartBERT's FLOPs saving into throughput in full
                            "speedup_over_flops_prediction": dynamic["examples_per_s"] / static["examples_per_s"]
                            * dynamic["cost_pct"] / 100.0})
        return {"examples": n, "batch1": batch1, "batched": batched}


if __name__ == "__main__":
    sys.exit(main())
