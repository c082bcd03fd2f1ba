"""What each job asks of the machine (threads, GPUs) and of a cluster (runtime, memory).

Threads and GPUs. The device is never in the experiment config (docs/design.md): every `smartbert`
process picks its own (``--device``, default ``$SMARTBERT_DEVICE``, else a free CUDA GPU claimed through
a lock file). The workflow only decides how many GPU jobs run at once and how many threads each gets.
GPU jobs (train, select, trace) ask for ``gpu=1`` where GPUs are visible, so ``--resources gpu=N``
runs N of them at once, one per GPU, beside the CPU jobs. On a CPU-only machine they ask for none:
there the cores are the limit. The latency job takes every core and every GPU slot, so nothing runs
beside it while it times. ``SMARTBERT_DEVICE=cuda:N`` puts every job on one GPU: a local run must
then run one GPU job at a time (``--resources gpu=1``, else an error). On a cluster the slurm profile
sets both per rule.

Cluster cost. From the work each job does: training examples x epochs over every trained stage (+ the
per-epoch evaluation), at stated throughputs on one GPU for a BERT-base-sized backbone at max length
128, fp32: conservative guesses, not measurements. Then x 1.5 and + 10 minutes of start-up, and x
attempt: a retry after a time limit or an out-of-memory kill asks for twice, then three times as much,
up to :data:`MAX_RUNTIME_MIN` (a training cut there continues from its last finished epoch). Faster
GPUs: raise the rates, or set one rule's request with ``--set-resources train:runtime=MIN``. A
training whose stage caches its frozen pass (``$SMARTBERT_FROZEN_CACHE_MB``; off on a GPU unless set)
asks for that bound twice more (training and selection split).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smartbert.app.plan.experiment import Experiment
from smartbert.core.errors import SmartBertError
from smartbert.core.names import DEFAULT_VARIANT
from smartbert.data.tasks import get_task
from smartbert.replay.policies import POLICIES
from smartbert.training.config import TrainConfig

TRAIN_EXAMPLES_PER_S = 100  # training (forward + backward); every stage counted at this rate
EVAL_EXAMPLES_PER_S = 400  # forward only, every layer (evaluation, traces)
LATENCY_PASSES_PER_S = 20  # batch-1 dynamic passes (Python-bound: about 50 ms each)
MAX_RUNTIME_MIN = 24 * 60
UNKNOWN_SIZE = (392702, 9832)  # a task without known sizes is costed as MNLI, to be safe
#: Snakemake priority of the select jobs (one per grid point): every training of the selected method waits
#: for a task's points, so among ready jobs they start first (the others default to 0)
SELECT_PRIORITY = 1


# ---- threads and GPUs -------------------------------------------------------------------------------

def visible_gpus(environ: Mapping[str, str], cuda_count: Callable[[], int]) -> int:
    """GPUs the planned jobs may use: none with ``SMARTBERT_DEVICE=cpu``; ``SMARTBERT_GPUS=N`` plans for
    N (a dry run on a CPU login node), else every CUDA GPU (``cuda_count`` is only called then, so a CPU
    plan never asks CUDA); ``cuda:N`` puts every job on that one GPU."""
    if _device(environ) == "cpu":
        return 0
    count = int(environ["SMARTBERT_GPUS"]) if environ.get("SMARTBERT_GPUS") else cuda_count()
    return min(count, 1) if pinned_gpu(environ) else count


def _device(environ: Mapping[str, str]) -> str:
    return (environ.get("SMARTBERT_DEVICE") or "auto").strip().lower()


def pinned_gpu(environ: Mapping[str, str]) -> str | None:
    """The one GPU ``SMARTBERT_DEVICE=cuda:N`` puts every job on (None for auto, cuda, cpu)."""
    device = _device(environ)
    return device if re.fullmatch(r"cuda:\d+", device) else None


def check_pinned_gpu(environ: Mapping[str, str], gpus: int, given_gpu_resource: int | None) -> None:
    """A one-line error when ``SMARTBERT_DEVICE=cuda:N`` puts every GPU job of a local run on one GPU
    and ``--resources gpu`` lets several run at once there (or sets no bound)."""
    pinned = pinned_gpu(environ)
    if not pinned or not gpus or given_gpu_resource == 1:
        return
    at_once = ("no --resources gpu=N bounds how many run at once there" if given_gpu_resource is None
               else f"--resources gpu={given_gpu_resource} runs {given_gpu_resource} at once there")
    raise SmartBertError(f"SMARTBERT_DEVICE={pinned} puts every GPU job on one GPU and {at_once}: pass --resources gpu=1, "
                         "or SMARTBERT_DEVICE=auto to give each job a GPU of its own")


@dataclass(frozen=True)
class JobThreads:
    """Threads and GPUs per job kind, from the cores and GPUs of the machine running the jobs.

    A GPU job's CPU side needs a few threads, not the machine: up to 4 each, and one share of the cores
    is left to the CPU jobs beside them. A CPU-only run gives its training and tracing jobs half the
    cores each, so two run at once: on the 2-core machine two 1-thread MiniLM trainings side by side
    train 1.2x more examples per second in all than one 2-thread training
    (benchmarks/training_speed.py), and never more threads than cores (a second 2-thread job beside a
    first made both about 8x slower). The latency job keeps every core: it times alone."""

    gpus: int          # GPUs visible to the jobs
    cores: int         # cores Snakemake may use
    gpu_slots: int     # GPU jobs at once (--resources gpu=N, at most the GPUs)

    @classmethod
    def plan(cls, gpus: int, cores: int, given_gpu_resource: int | None) -> JobThreads:
        return cls(gpus, max(1, cores), min(gpus, gpus if given_gpu_resource is None else given_gpu_resource))

    @property
    def gpu_job_threads(self) -> int:
        return max(1, min(4, self.cores // (self.gpu_slots + 1)))

    @property
    def device_threads(self) -> int:
        """Threads of a train, select or trace job."""
        return self.gpu_job_threads if self.gpus else max(1, self.cores // 2)

    @property
    def timing_threads(self) -> int:
        """Threads of the latency job: every core, so no other job starts beside it."""
        return self.cores

    @property
    def timing_gpus(self) -> int:
        """`gpu` resource of the latency job: every GPU slot where GPUs are, so no GPU job runs beside it."""
        return self.gpu_slots if self.gpus else 0

    @property
    def device_gpus(self) -> int:
        """`gpu` resource of a GPU job: 1 where GPUs are, else 0 (cores are the limit)."""
        return 1 if self.gpus else 0

    def gpu_note(self, given_gpu_resource: int | None) -> str | None:
        """A hint when GPUs are visible and ``--resources gpu=N`` would run fewer GPU jobs than there are GPUs."""
        if self.gpus and given_gpu_resource != self.gpus:
            return (f"Note: {self.gpus} GPU(s) visible and --resources gpu={given_gpu_resource}: pass --resources "
                    f"gpu={self.gpus} to run {self.gpus} GPU job(s) at once, one per GPU.")
        return None


# ---- what a job costs on a cluster (runtime in minutes, memory in MB) ---------------------------------

def split_size(task: str, split: str) -> int:
    """Examples in a split, from the task's spec."""
    size = get_task(task).split_size(split)
    return size if size else UNKNOWN_SIZE[0 if split == "train" else 1]


def minutes(seconds: float, attempt: int) -> int:
    return min(MAX_RUNTIME_MIN, math.ceil((1.5 * seconds / 60 + 10) * attempt))


def megabytes(base_mb: float, examples: float, attempt: int) -> int:
    """Host memory: torch, CUDA and the model (base), plus about 10 kB per example held (text, token ids)."""
    return math.ceil((base_mb + 0.01 * examples) * attempt)


def frozen_cache_mb(environ: Mapping[str, str]) -> float:
    """The frozen-pass cache's bound per split in a GPU rule's job: ``$SMARTBERT_FROZEN_CACHE_MB`` where
    set, else its default on the job's device (a GPU: 0, recomputed; ``SMARTBERT_DEVICE=cpu``: 4096)."""
    import torch

    from smartbert.modeling.frozen import cache_limit_mb, default_cache_mb

    limit = cache_limit_mb(environ)
    return default_cache_mb(torch.device("cpu" if _device(environ) == "cpu" else "cuda")) if limit is None else limit


class ClusterCost:
    """Runtime and memory requests of the GPU rules of one profile's plan (``frozen_cache_mb``: the
    frozen-pass cache's bound per split in their jobs, :func:`frozen_cache_mb`)."""

    def __init__(self, plan: Experiment, frozen_cache_mb: float = 0.0) -> None:
        self.plan = plan
        self.frozen_cache_mb = frozen_cache_mb

    def train_examples(self, task: str) -> float:
        budget = self.plan.max_train_examples(task)
        return min(split_size(task, "train"), budget or math.inf)

    def stage_epochs(self, method: str, variant: str = DEFAULT_VARIANT) -> list[int]:
        """Epochs of each stage a method trains, in order (a stage that reuses another model trains none)."""
        train = {**self.plan.config["train"], **self.plan.config["methods"][method]["train"]}
        return [stage.epochs or train.get("epochs", TrainConfig.epochs) for stage in self.plan.stages(method, variant)
                if not stage.reuse]

    def train_runtime(self, task: str, method: str, variant: str, attempt: int) -> int:
        epochs = sum(self.stage_epochs(method, variant))
        seconds = epochs * (self.train_examples(task) / TRAIN_EXAMPLES_PER_S + split_size(task, "dev") / EVAL_EXAMPLES_PER_S)
        return minutes(seconds, attempt)

    def caches_frozen_pass(self, method: str, variant: str = DEFAULT_VARIANT) -> bool:
        """Whether a stage the method trains reads a frozen part it may cache (no dropout in it)."""
        return any(stage.frozen is not None and not stage.frozen_dropout and not stage.reuse
                   for stage in self.plan.stages(method, variant))

    def train_mem_mb(self, task: str, attempt: int, method: str | None = None, variant: str = DEFAULT_VARIANT) -> int:
        """Host memory of a training: the base, its examples, and the frozen-pass cache of the
        training and selection splits where ``method`` caches one (up to its bound each)."""
        cache = 2 * self.frozen_cache_mb if method and self.caches_frozen_pass(method, variant) else 0
        return megabytes(8000 + cache, self.train_examples(task) + split_size(task, "dev"), attempt)

    def select_runtime(self, task: str, attempt: int) -> int:
        """One grid point (a select job each): stage 1 on train minus the held-out split, scored on that
        split each epoch."""
        selection = self.plan.config["selection"]
        epochs = self.stage_epochs(selection["method"])[0]
        examples = self.train_examples(task)
        seconds = epochs * (examples / TRAIN_EXAMPLES_PER_S + 0.1 * examples / EVAL_EXAMPLES_PER_S)
        return minutes(seconds, attempt)

    def select_mem_mb(self, task: str, attempt: int) -> int:
        return megabytes(8000, self.train_examples(task), attempt)

    def trace_runtime(self, task: str, attempt: int) -> int:
        return minutes(split_size(task, "dev") / EVAL_EXAMPLES_PER_S, attempt)

    def trace_mem_mb(self, task: str, attempt: int) -> int:
        return megabytes(8000, split_size(task, "dev"), attempt)

    def latency_runtime(self, task: str, attempt: int) -> int:
        """Every method's model, each at its Table 1 points, (1 warm-up + repeats) passes over the examples."""
        config = self.plan.config
        points = len(self.plan.methods) * max(len(policy.table_thresholds(config["thresholds"])) for policy in POLICIES.values())
        passes = config["latency"]["examples"] * points * (1 + config["latency"]["repeats"])
        return minutes(passes / LATENCY_PASSES_PER_S, attempt)

    def latency_mem_mb(self, task: str, attempt: int) -> int:
        return megabytes(4000 + 1000 * len(self.plan.methods), split_size(task, "dev"), attempt)  # every model loaded at once
