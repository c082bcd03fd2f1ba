# The plan of this profile (smartbert.app.plan: models, run configs, figure specs, config checks,
# threads and GPUs, cluster runtime and memory; unit-tested there) and what only Snakemake knows:
# the path templates under the profile's roots and the `wildcards` input functions the rules call.
import os
import re
import sys

from snakemake.exceptions import WorkflowError

from smartbert.app.catalogue import method_catalogue
from smartbert.app.plan.experiment import GATED_METHOD, Experiment
from smartbert.app.plan.resources import SELECT_PRIORITY, ClusterCost, JobThreads, check_pinned_gpu, frozen_cache_mb, visible_gpus
from smartbert.core.errors import SmartBertError
from smartbert.core.names import DEFAULT_VARIANT, SKIP_ONLY
from smartbert.data.tasks import training_task

ENV = "../envs/smartbert.yaml"  # relative to rules/; Snakemake files elsewhere (the external baselines) use ENV_FILE
ENV_FILE = os.path.join(REPO_DIR, "workflow", "envs", "smartbert.yaml")
# The conda env (--sdm conda) installs this checkout: `-e ${SMARTBERT_REPO}[workflow]`, which pip expands
# from the environment, so it resolves wherever Snakemake puts its copy of the env file. Set, not read.
os.environ.update(SMARTBERT_REPO=REPO_DIR)
PAPER_DIR = os.path.join(REPO_DIR, "results", "paper")  # the paper's tables, transcribed (in the repository)

# `--config tasks=[RTE]` on the command line runs part of a profile (one task per sitting): its
# variants and figures on other tasks are left out then, where in the profile itself that is a mistake.
PLAN = Experiment(config, narrowed="tasks" in (workflow.config_settings.config or {}), repo_dir=REPO_DIR)
try:
    PLAN.check()
except SmartBertError as error:
    raise WorkflowError(f"config error: {error}")

TASKS = PLAN.tasks
TRAIN_TASKS = PLAN.train_tasks
SEEDS = PLAN.seeds
METHODS = PLAN.methods
VARIANTS = PLAN.variants
EXTERNAL = PLAN.external
LATENCY = PLAN.latency
FIGURES = {name: vars(spec) for name, spec in PLAN.figures().items()}
# The registry's methods as the assembling jobs (tables, figures, REPORT.md) need them, read once here:
# passed as a param, those jobs never import torch (smartbert.app.steps).
METHOD_CATALOGUE = method_catalogue().rows()


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


# ---- where this profile writes ------------------------------------------------------------------
# Every output lives under the profile's own roots, so a paper run never touches the published quick
# run (results/quick/, figures/quick/) and two profiles never reuse each other's files.
PROFILE = config["profile"]


def res(path):
    """``path`` under this profile's results root: res("models/...") -> results/<profile>/models/..."""
    return f"results/{PROFILE}/{path}"


def fig(path):
    return f"figures/{PROFILE}/{path}"


def logs(path):
    return f"logs/{PROFILE}/{path}"


# ---- path templates: every per-model and per-task file spelled once ------------------------------
# Rules take them as they are ({wildcards}); functions fill them with .format(...) or expand().
MODEL = res("models/{task}/{method}/{variant}/seed{seed}")
TRACE = res("traces/{task}/{method}/{variant}/seed{seed}.npz")
SWEEP = res("sweeps/{task}/{method}/{variant}/seed{seed}.csv")
ORACLE = res("oracle/{task}/{method}/{variant}/seed{seed}.json")
MODEL_RUNTIME = res("runtime/{step}/{task}/{method}/{variant}/seed{seed}.tsv")
DATA_SUMMARY = res("data/{task}.json")
LATENCY_TABLE = res("latency/{task}.csv")
SELECTED = res("selection/{task}/selected.yaml")
SELECTION_TABLE = res("selection/{task}/selection.csv")
SELECTION_POINT = res("selection/{task}/points/{point}.json")  # one grid point's row (temp, until `choose`)
SELECTION_POINT_RUNTIME = res("runtime/select/{task}/{point}.tsv")
CALIBRATION = res("calibration/{task}/{method}/{variant}/seed{seed}.csv")
CALIBRATION_LATENCY = res("calibration/{task}/latency.csv")  # batch-1 ms at the calibrated thresholds  # a run from before the per-point select jobs (the published ones)


def fill(template, **values):
    """``template`` with some wildcards filled, the others kept as ``{wildcard}`` for Snakemake."""
    return expand(template, **{name: [value] for name, value in values.items()}, allow_missing=True)[0]


def model_paths(template, models):
    return [template.format(task=t, method=m, variant=v, seed=s) for (t, m, v, s) in models]


def model_dir(task, method, variant, seed):
    return MODEL.format(task=task, method=method, variant=variant, seed=seed)


# ---- what the rules read ------------------------------------------------------------------------


def all_oracles():
    return model_paths(ORACLE, PLAN.models())


def all_sweeps():
    return model_paths(SWEEP, PLAN.swept_models())


def external_sweeps():
    return [res(path) for path in PLAN.external_sweeps()]


def result_sweeps():
    """Every sweep the tables and the report read: the suite's models and the external baselines."""
    return all_sweeps() + external_sweeps()


def data_summaries():
    return expand(DATA_SUMMARY, task=TASKS)


def latency_files():
    return expand(LATENCY_TABLE, task=TASKS) if LATENCY else []


def all_calibrations():
    return model_paths(CALIBRATION, PLAN.calibrated_models())


def calibration_latency_files():
    """The calibrated latency tables, where the profile calibrates and times (latency.examples > 0)."""
    return expand(CALIBRATION_LATENCY, task=TASKS) if LATENCY and PLAN.calibrates else []


def task_calibrations(wildcards):
    """The first seed's calibration of each early-exit model of ``task`` (what the calibrated latency job times)."""
    return model_paths(CALIBRATION, PLAN.calibrated_models(wildcards.task, first_seed=True))


def calibrated_latency_models(wildcards):
    return model_paths(MODEL, PLAN.calibrated_latency_models(wildcards.task))


def selection_tables():
    """Every task's selection table, when the profile selects (the report states what was chosen)."""
    return [SELECTION_TABLE.format(task=task) for task in TRAIN_TASKS] if PLAN.selects() else []


def all_tables():
    return [res(f"tables/{name}.{ext}") for name in ("table1", "table2", "table3", "paper_vs_repro", "curves_auc", "curves_between",
                                                          "oracle", "heads", "gates", "skip_only_gap", "guaranteed")
            for ext in ("csv", "md", "tex")]


def all_figures():
    return [fig(f"{name}.{ext}") for name in PLAN.drawn_figures() for ext in ("png", "pdf")]


def figure_sweeps(wildcards):
    spec = FIGURES[wildcards.figure]
    external = [res(path) for path in PLAN.external_sweeps(spec["tasks"])] if spec["kind"] == "fig4" else []
    return model_paths(SWEEP, PLAN.figure_models(wildcards.figure)) + external


# Wall times come from the benchmark files of the train, trace and select jobs, which Snakemake writes
# beside those jobs (not outputs another job can depend on); the report reads those of this config.
def runtime_files():
    files = [MODEL_RUNTIME.format(step=step, task=t, method=m, variant=v, seed=s) for (t, m, v, s) in PLAN.models()
             for step in ("train", "trace")]
    return files + ([path for t in TRAIN_TASKS for path in selection_runtime_files(t)] if PLAN.selects() else [])


def selection_runtime_files(task):
    """The select jobs' benchmark files of ``task``: one per grid point."""
    return [SELECTION_POINT_RUNTIME.format(task=task, point=p) for p in PLAN.selection_points()]


def selection_rows(wildcards):
    """Every grid point's row of this task, in grid order (the `choose` job's input)."""
    return [SELECTION_POINT.format(task=wildcards.task, point=p) for p in PLAN.selection_points()]


# ---- what a training, sweep or latency job gets --------------------------------------------------


def method_of(wildcards):
    return PLAN.method_of(wildcards.method, wildcards.variant)


def backbone_of(method):
    return PLAN.backbone_of(method)


def all_backbones():
    return PLAN.backbones()


def run_config_for(task, method, variant=DEFAULT_VARIANT):
    return PLAN.run_config(task, method, variant)


def run_config(wildcards):
    return PLAN.run_config(wildcards.task, method_of(wildcards), wildcards.variant)


def trained_model(wildcards):
    """The model a trace evaluates: this task's own, or (MNLI-mm) the MNLI model."""
    return model_dir(training_task(wildcards.task), wildcards.method, wildcards.variant, wildcards.seed)


def train_inputs(wildcards):
    method = method_of(wildcards)
    inputs = {"data": DATA_SUMMARY.format(task=wildcards.task)}
    if PLAN.needs_selection(method):
        inputs["selected"] = SELECTED.format(task=wildcards.task)
    for needed in PLAN.reused_methods(method):
        inputs[f"init_{needed}"] = model_dir(wildcards.task, needed, DEFAULT_VARIANT, wildcards.seed)
    return inputs


def init_args(wildcards, input):
    return " ".join(f"--init-from {key[5:]}={value}" for key, value in input.items() if key.startswith("init_"))


def selected_args(wildcards, input):
    return f"--config {input.selected}" if "selected" in input.keys() else ""


def table_thresholds_arg(wildcards):
    return PLAN.table_thresholds_arg(method_of(wildcards))


def middle_threshold_arg(wildcards):
    return PLAN.middle_threshold_arg(method_of(wildcards))


def latency_thresholds_args():
    return PLAN.latency_thresholds_args()


def reference_args(wildcards):
    return PLAN.reference_args()


def latency_models(wildcards):
    return model_paths(MODEL, PLAN.latency_models(wildcards.task))


# ---- threads and GPUs (smartbert.app.plan.resources.JobThreads) -----------------------------------
# SMARTBERT_GPUS=N plans for N GPUs instead of the ones this machine shows (a dry run on a CPU login node).


def _cuda_count():
    import torch

    return torch.cuda.device_count()


def _resource(name):
    value = workflow.global_resources.get(name)
    return getattr(value, "value", value)


_GIVEN_GPUS = _resource("gpu")  # --resources gpu=N: GPU jobs at once (Snakemake's limit, not a device choice)
THREADS = JobThreads.plan(visible_gpus(os.environ, _cuda_count), _resource("_cores") or workflow.resource_settings.cores or 1,
                          _GIVEN_GPUS)
if workflow.is_main_process and workflow.local_exec:
    try:
        check_pinned_gpu(os.environ, THREADS.gpus, _GIVEN_GPUS)  # SMARTBERT_DEVICE=cuda:N with several jobs at once
    except SmartBertError as error:
        raise WorkflowError(f"{error}")
    _note = THREADS.gpu_note(_GIVEN_GPUS)
    if _note:
        print(_note, file=sys.stderr)
GPUS = THREADS.gpus
DEVICE_THREADS = THREADS.device_threads
DEVICE_GPUS = THREADS.device_gpus
TIMING_THREADS = THREADS.timing_threads  # the latency job: every core and every GPU slot, so it times alone
TIMING_GPUS = THREADS.timing_gpus


# ---- what a job costs on a cluster (smartbert.app.plan.resources.ClusterCost; a local run ignores it) --
try:
    COST = ClusterCost(PLAN, frozen_cache_mb(os.environ))
except SmartBertError as error:
    raise WorkflowError(f"{error}")


def train_runtime(wildcards, attempt):
    return COST.train_runtime(wildcards.task, method_of(wildcards), wildcards.variant, attempt)


def train_mem_mb(wildcards, attempt):
    return COST.train_mem_mb(wildcards.task, attempt, method_of(wildcards), wildcards.variant)


def select_runtime(wildcards, attempt):
    return COST.select_runtime(wildcards.task, attempt)


def select_mem_mb(wildcards, attempt):
    return COST.select_mem_mb(wildcards.task, attempt)


def trace_runtime(wildcards, attempt):
    return COST.trace_runtime(wildcards.task, attempt)


def trace_mem_mb(wildcards, attempt):
    return COST.trace_mem_mb(wildcards.task, attempt)


def latency_runtime(wildcards, attempt):
    return COST.latency_runtime(wildcards.task, attempt)


def latency_mem_mb(wildcards, attempt):
    return COST.latency_mem_mb(wildcards.task, attempt)
