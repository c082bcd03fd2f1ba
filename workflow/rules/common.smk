# Config checks, the list of models to train, the paths and parameters rules share, and what each job
# asks of the machine (threads, GPUs; runtime and memory for a cluster).
import json
import math
import os
import re
import sys

from snakemake.exceptions import WorkflowError

from smartbert.core.config import from_dict, merge_layers
from smartbert.data.synthetic import SPLIT_SIZES
from smartbert.data.tasks import get_task, training_task
from smartbert.core.errors import SmartBertError
from smartbert.replay.policies import POLICIES, check_table_thresholds
from smartbert.methods.registry import get_method, method_names
from smartbert.training.trainer import TrainConfig

ENV = "../envs/smartbert.yaml"  # relative to rules/; Snakemake files elsewhere (the external baselines) use ENV_FILE
ENV_FILE = os.path.join(REPO_DIR, "workflow", "envs", "smartbert.yaml")
# The conda env (--sdm conda) installs this checkout: `-e ${SMARTBERT_REPO}[workflow]`, which pip expands
# from the environment, so it resolves wherever Snakemake puts its copy of the env file. Set, not read.
os.environ.update(SMARTBERT_REPO=REPO_DIR)
PAPER_DIR = os.path.join(REPO_DIR, "results", "paper")  # the paper's tables, transcribed (in the repository)
SKIP_ONLY = "skiponly"  # a policy on SmartBERT's default model, not a training
GATED_METHOD = "smartbert"


# `--config tasks=[RTE]` on the command line runs part of a profile (one task per sitting): its
# variants on other tasks are left out then, where in the profile itself such a task is a mistake.
TASKS_NARROWED = "tasks" in (workflow.config_settings.config or {})


def external_rules(spec):
    """The Snakemake file of an external baseline: absolute, or relative to the working directory, else
    to this repository (where the worked example lives); None if neither holds it."""
    for path in (spec["rules"], os.path.join(REPO_DIR, spec["rules"])):
        if os.path.isfile(path):
            return os.path.abspath(path)
    return None


def _check_config():
    """Every name the config uses exists, every method config fits its dataclass: fail before any job."""
    try:
        for task in config["tasks"] + config["tables"]["table3_tasks"]:
            get_task(task)
        for name, block in config["methods"].items():
            from_dict(get_method(name).config_class, block["config"], f"config methods.{name}.config")
        for name, variant in config["variants"].items():
            if variant["method"] not in config["methods"]:
                raise SmartBertError(f"variant {name!r} modifies method {variant['method']!r}, which is not under `methods:`")
            base = config["methods"][variant["method"]]["config"]
            from_dict(get_method(variant["method"]).config_class, {**base, **variant["config"]}, f"config variants.{name}.config")
            for task in variant["tasks"] or []:
                get_task(task)
                if task not in config["tasks"] and not TASKS_NARROWED:
                    raise SmartBertError(f"variant {name!r} runs on {task!r}, which is not in `tasks:` {config['tasks']}")
        check_table_thresholds(config["thresholds"])
        grid = config["selection"]["grid"]
        if grid:
            method = config["selection"]["method"]
            if method not in config["methods"]:
                raise SmartBertError(f"selection.method {method!r} is not under `methods:`")
            for key, values in grid.items():
                for value in values:
                    from_dict(get_method(method).config_class, {key: value}, f"config selection.grid.{key}")
        for name, spec in config["external"].items():
            if name in method_names():
                raise SmartBertError(f"external.{name}: {name!r} is a registered method; give the external baseline another name")
            if external_rules(spec) is None:
                raise SmartBertError(f"external.{name}.rules: {spec['rules']} not found (relative paths: from {os.getcwd()} "
                                     f"or this repository)")
            for task in spec.get("tasks") or []:
                get_task(task)
        for figure in ("fig5_variants", "fig6_variants"):
            for name in config["figures"][figure]:
                if name not in config["variants"]:
                    raise SmartBertError(f"figures.{figure} names variant {name!r}; define it under `variants:`")
    except SmartBertError as error:
        raise WorkflowError(f"config error: {error}")


_check_config()

TASKS = config["tasks"]
TRAIN_TASKS = list(dict.fromkeys(training_task(t) for t in TASKS))  # MNLI-mm evaluates MNLI's models
SEEDS = [str(seed) for seed in config["seeds"]]
METHODS = list(config["methods"])
VARIANTS = ["default", *config["variants"]]


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
SELECTION_RUNTIME = res("runtime/select/{task}.tsv")


def fill(template, **values):
    """``template`` with some wildcards filled, the others kept as ``{name}`` for Snakemake."""
    names = re.findall(r"{(\w+)}", template)
    return template.format(**{name: values.get(name, f"{{{name}}}") for name in names})


# ---- which models exist -------------------------------------------------------------------------


def variant_method(variant):
    return config["variants"][variant]["method"]


def models():
    """(task, method, variant, seed) of every evaluation (trace, sweep) the config asks for; the model
    traced is that of ``training_task(task)`` (itself except for MNLI-mm)."""
    found = [(t, m, "default", s) for t in TASKS for m in METHODS for s in SEEDS]
    for name, variant in config["variants"].items():
        found += [(t, variant["method"], name, s) for t in variant_tasks(name) for s in SEEDS]
    return found


def sweep_path(task, method, variant, seed):
    return SWEEP.format(task=task, method=method, variant=variant, seed=seed)


def oracle_path(task, method, variant, seed):
    return ORACLE.format(task=task, method=method, variant=variant, seed=seed)


def all_oracles():
    return [oracle_path(*model) for model in models()]


def all_sweeps():
    paths = [sweep_path(*model) for model in models()]
    if GATED_METHOD in METHODS:
        paths += [sweep_path(t, GATED_METHOD, SKIP_ONLY, s) for t in TASKS for s in SEEDS]
    return paths


# ---- baselines from outside: sweeps a rule of the user's own writes (smartbert.reporting.external) ----------

EXTERNAL = config["external"]


def external_tasks(name):
    """The run's tasks the external baseline ``name`` has numbers for."""
    return [t for t in EXTERNAL[name].get("tasks") or TASKS if t in TASKS]


def external_sweeps():
    return [res(spec["sweep"].format(task=t)) for name, spec in EXTERNAL.items() for t in external_tasks(name)]


def result_sweeps():
    """Every sweep the tables and the report read: the suite's models and the external baselines."""
    return all_sweeps() + external_sweeps()


def sweeps_of(tasks, variants):
    """Sweeps of ``variants`` on ``tasks`` (figures 5 and 6; a run without SmartBERT still draws them, empty)."""
    return [sweep_path(t, m, v, s) for (t, m, v, s) in models() if t in tasks and v in variants]


def variant_tasks(variant):
    """The run's tasks the variant runs on (its `tasks:`, null = all; those outside the run's `tasks:` left out)."""
    return [t for t in config["variants"][variant]["tasks"] or TASKS if t in TASKS]


# ---- what a training run gets -------------------------------------------------------------------


def max_train_examples(task):
    budget = config["data"]["max_train_examples"]
    return budget.get(task, budget.get("default"))


def method_of(wildcards):
    return wildcards.method if wildcards.variant == "default" else variant_method(wildcards.variant)


def backbone_of(method):
    return config["methods"][method]["backbone"] or config["backbone"]


def all_backbones():
    """Every backbone the profile names (its methods' and the FLOPs reference), each once (`download`)."""
    names = [backbone_of(method) for method in METHODS]
    if config["reference_backbone"]:
        names.append(config["reference_backbone"])
    return list(dict.fromkeys(names))


def run_config_for(task, method, variant="default"):
    """The `--config` mapping of one training: shared train settings, the method's, the variant's."""
    block = config["methods"][method]
    layers = [("train:", {"train": config["train"]}), (f"methods.{method}", {"train": block["train"], "method": block["config"]}),
              ("data.max_train_examples", {"train": {"max_train_examples": max_train_examples(task)}})]
    if variant != "default":
        layers.append((f"variants.{variant}", {"method": config["variants"][variant]["config"]}))
    return json.dumps(merge_layers(layers), sort_keys=True)


def run_config(wildcards):
    return run_config_for(wildcards.task, method_of(wildcards), wildcards.variant)


def needs_selection(method):
    return bool(config["selection"]["grid"]) and method == config["selection"]["method"]


def selection_tables():
    """Every task's selection table, when the profile selects (the report states what was chosen)."""
    if not (config["selection"]["grid"] and config["selection"]["method"] in METHODS):
        return []
    return [SELECTION_TABLE.format(task=task) for task in TRAIN_TASKS]


def reused_methods(method):
    """Methods whose trained models a method's stages reuse or distil from (DeeBERT, DistilBERT: bert)."""
    stages = get_method(method).stages(from_dict(get_method(method).config_class, config["methods"][method]["config"], method))
    return sorted({needed for stage in stages for needed in (stage.reuse, stage.teacher) if needed})


def model_dir(task, method, variant, seed):
    return MODEL.format(task=task, method=method, variant=variant, seed=seed)


def trained_model(wildcards):
    """The model a trace evaluates: this task's own, or (MNLI-mm) the MNLI model."""
    return model_dir(training_task(wildcards.task), wildcards.method, wildcards.variant, wildcards.seed)


def train_inputs(wildcards):
    method = method_of(wildcards)
    inputs = {"data": DATA_SUMMARY.format(task=wildcards.task)}
    if needs_selection(method):
        inputs["selected"] = SELECTED.format(task=wildcards.task)
    for needed in reused_methods(method):
        inputs[f"init_{needed}"] = model_dir(wildcards.task, needed, "default", wildcards.seed)
    return inputs


def init_args(wildcards, input):
    return " ".join(f"--init-from {key[5:]}={value}" for key, value in input.items() if key.startswith("init_"))


def selected_args(wildcards, input):
    return f"--config {input.selected}" if "selected" in input.keys() else ""


def exit_policy(wildcards):
    """The class of the method's exit policy (its threshold's name, domain and Table 1 points)."""
    return get_method(method_of(wildcards)).policy_class


def table_thresholds_arg(wildcards):
    """`--thresholds` of the sweep: Table 1's points of the method's exit rule (none for a static one)."""
    policy = exit_policy(wildcards)
    if policy.is_static():
        return ""
    return f"--thresholds {','.join(map(str, policy.table_thresholds(config['thresholds'])))}"


def middle_threshold_arg(wildcards):
    """`--threshold` of the oracle: the middle of those points, where per-head exits are counted."""
    policy = exit_policy(wildcards)
    return "" if policy.is_static() else f"--threshold {policy.table_middle(config['thresholds'])}"


def latency_thresholds_args():
    """`--thresholds POLICY=...` of the latency job: the Table 1 points the profile sets per exit rule."""
    return " ".join(f"--thresholds {name}={','.join(map(str, values))}" for name, values in config["thresholds"].items()
                    if name != "dense")


def reference_args(wildcards):
    reference = config["reference_backbone"]
    return f"--reference-backbone {reference}" if reference else ""


def all_tables():
    return [res(f"tables/{name}.{ext}") for name in ("table1", "table2", "table3", "paper_vs_repro", "curves_auc", "curves_between",
                                                          "oracle", "heads", "gates", "skip_only_gap")
            for ext in ("csv", "md", "tex")]


def all_figures():
    """Every figure with a task to draw: a run narrowed to tasks outside the ablations' (``--config
    tasks=[RTE]``) leaves Figures 5 and 6 to the run that holds those tasks."""
    names = [name for name in FIGURES if FIGURES[name]["tasks"]] + (["fig4_latency"] if LATENCY else [])
    return [fig(f"{name}.{ext}") for name in names for ext in ("png", "pdf")]


# ---- latency ------------------------------------------------------------------------------------

LATENCY = config["latency"]["examples"] > 0


def latency_files():
    return expand(LATENCY_TABLE, task=TASKS) if LATENCY else []


def latency_models(wildcards):
    """Every method's default model (first seed) that this task evaluates."""
    return [model_dir(training_task(wildcards.task), m, "default", SEEDS[0]) for m in METHODS]


# ---- tables, figures, report ------------------------------------------------------------------


def data_summaries():
    return expand(DATA_SUMMARY, task=TASKS)


def figure_tasks(variants):
    """Tasks on which every one of ``variants`` ran."""
    return [t for t in TASKS if all(t in variant_tasks(v) for v in variants)]


FIGURES = {
    "fig4_tradeoff": dict(kind="fig4", tasks=[t for t in config["figures"]["fig4_tasks"] or TASKS if t in TASKS], variants=[]),
    "fig5_contrast": dict(kind="fig5", tasks=figure_tasks(config["figures"]["fig5_variants"]),
                          variants=config["figures"]["fig5_variants"]),
    "fig6_gate_training": dict(kind="fig6", tasks=figure_tasks(config["figures"]["fig6_variants"]),
                               variants=config["figures"]["fig6_variants"]),
}

if not TASKS_NARROWED:
    for _name, _spec in FIGURES.items():
        if not _spec["tasks"]:
            raise WorkflowError(f"config error: {_name} has no task on which all of its variants {_spec['variants']} run; "
                                f"give them a common task under `variants:` (their `tasks:`) or `figures.fig4_tasks`")


def figure_sweeps(wildcards):
    spec = FIGURES[wildcards.figure]
    if spec["kind"] == "fig4":
        return [sweep_path(t, m, "default", s) for t in spec["tasks"] for m in METHODS for s in SEEDS] + [
            res(EXTERNAL[name]["sweep"].format(task=t)) for name in EXTERNAL for t in external_tasks(name) if t in spec["tasks"]]
    return sweeps_of(spec["tasks"], ["default", *spec["variants"]])


# Wall times come from the benchmark files of the train, trace and select jobs, which Snakemake writes
# beside those jobs (not outputs another job can depend on); the report reads those of this config.
def runtime_files():
    files = [MODEL_RUNTIME.format(step=step, task=t, method=m, variant=v, seed=s) for (t, m, v, s) in models()
             for step in ("train", "trace")]
    if config["selection"]["grid"]:
        files += [SELECTION_RUNTIME.format(task=t) for t in TASKS if config["selection"]["method"] in METHODS]
    return files


# ---- threads and GPUs ---------------------------------------------------------------------------
# The device is never in the experiment config (docs/design.md): every `smartbert` process picks its own
# (`--device`, default $SMARTBERT_DEVICE, else auto: a free CUDA GPU, claimed through a lock file, when
# there is one). The workflow only decides how many GPU jobs run at once and how many threads each gets.
# GPU jobs (rules train, select, trace, latency) ask for `gpu=1` where GPUs are visible, so
# `--resources gpu=N` runs N of them at once, one per GPU, beside the CPU jobs (sweeps, tables, figures).
# On a CPU-only machine they ask for none: there the cores are the limit (each such job uses every core,
# so a second one beside it would only halve both), and `--resources gpu=...` changes nothing.
# On a cluster the slurm profile sets both per rule (set-resources gpu, set-threads); what the machine
# running Snakemake sees does not matter there.
# SMARTBERT_GPUS=N plans for N GPUs instead of the ones this machine shows (a dry run on a CPU login node).
def _visible_gpus():
    device = os.environ.get("SMARTBERT_DEVICE", "auto")
    if device == "cpu":
        return 0
    if os.environ.get("SMARTBERT_GPUS"):
        return int(os.environ.get("SMARTBERT_GPUS"))
    import torch

    count = torch.cuda.device_count()
    return min(count, 1) if device.startswith("cuda:") else count  # cuda:N: every job on that one GPU


def _resource(name):
    value = workflow.global_resources.get(name)
    return getattr(value, "value", value)


GPUS = _visible_gpus()
CORES = _resource("_cores") or workflow.resource_settings.cores or 1
_GIVEN_GPUS = _resource("gpu")  # --resources gpu=N: GPU jobs at once (Snakemake's limit, not a device choice)
GPU_SLOTS = min(GPUS, GPUS if _GIVEN_GPUS is None else _GIVEN_GPUS)
if GPUS and _GIVEN_GPUS != GPUS and workflow.is_main_process and workflow.local_exec:
    print(f"Note: {GPUS} GPU(s) visible and --resources gpu={_GIVEN_GPUS}: pass --resources gpu={GPUS} to run "
          f"{GPUS} GPU job(s) at once, one per GPU.", file=sys.stderr)
# A GPU job's CPU side (batching, Python, the optimizer's bookkeeping) needs a few threads, not the machine:
# up to 4 each, and one share of the cores is left to the CPU jobs beside them. A CPU-only run gives its
# training and tracing jobs half the cores each, so two run at once: on the 2-core machine two 1-thread
# MiniLM trainings side by side train 1.2x more examples per second in all than one 2-thread training
# (benchmarks/training_speed.py), and never more threads than cores (a second 2-thread job beside a first
# made both about 8x slower). The latency job keeps every core: it times alone. `--set-threads train=N`
# (and select, trace) overrides this.
GPU_JOB_THREADS = max(1, min(4, CORES // (GPU_SLOTS + 1)))
DEVICE_THREADS = GPU_JOB_THREADS if GPUS else max(1, CORES // 2)
TIMING_THREADS = GPU_JOB_THREADS if GPUS else CORES
DEVICE_GPUS = 1 if GPUS else 0


# ---- what a job costs on a cluster (runtime in minutes, memory in MB; a local run ignores both) ------
# From the work each job does: training examples x epochs over every trained stage (+ the per-epoch
# evaluation), at stated throughputs on one GPU for a BERT-base-sized backbone at max length 128,
# fp32: conservative guesses, not measurements (a recent GPU with GLUE's short sentences and dynamic
# padding does better; smaller backbones, frozen-backbone stages finish well inside). Then x 1.5
# and + 10 minutes of start-up (imports, data and model loading), and x attempt: a retry after a time
# limit or an out-of-memory kill asks for twice, then three times as much, up to MAX_RUNTIME_MIN (a usual
# partition limit; a training cut there continues from its last finished epoch when retried).
# Faster GPUs: raise the rates here, or set one rule's request with --set-resources train:runtime=MIN.
TRAIN_EXAMPLES_PER_S = 100  # training (forward + backward); every stage counted at this rate
EVAL_EXAMPLES_PER_S = 400  # forward only, every layer (evaluation, traces)
LATENCY_PASSES_PER_S = 20  # batch-1 dynamic passes (Python-bound: about 50 ms each)
MAX_RUNTIME_MIN = 24 * 60
# GLUE sizes (train, dev) as download_glue_data.py writes them; MNLI-mm: the mismatched dev set
GLUE_SIZES = {"CoLA": (8551, 1043), "SST-2": (67349, 872), "MRPC": (3668, 408), "QQP": (363846, 40430),
              "MNLI": (392702, 9815), "MNLI-mm": (392702, 9832), "QNLI": (104743, 5463), "RTE": (2490, 277),
              "WNLI": (635, 71), "STS-B": (5749, 1500)}


def split_size(task, split):
    """Examples in a split (synthetic tasks: their generator's size; an unknown task: MNLI's, to be safe)."""
    if get_task(task).synthetic:
        return SPLIT_SIZES[split]
    return GLUE_SIZES.get(task, GLUE_SIZES["MNLI"])[0 if split == "train" else 1]


def train_examples(task):
    budget = max_train_examples(task)
    return min(split_size(task, "train"), budget or math.inf)


def stage_epochs(method, variant="default"):
    """Epochs of each stage a method trains, in order (a stage that reuses another model trains none)."""
    train = {**config["train"], **config["methods"][method]["train"]}
    block = dict(config["methods"][method]["config"])
    if variant != "default":
        block.update(config["variants"][variant]["config"])
    stages = get_method(method).stages(from_dict(get_method(method).config_class, block, method))
    return [stage.epochs or train.get("epochs", TrainConfig.epochs) for stage in stages if not stage.reuse]


def _minutes(seconds, attempt):
    return min(MAX_RUNTIME_MIN, math.ceil((1.5 * seconds / 60 + 10) * attempt))


def _mb(base_mb, examples, attempt):
    """Host memory: torch, CUDA and the model (base), plus about 10 kB per example held (text, token ids)."""
    return math.ceil((base_mb + 0.01 * examples) * attempt)


def train_runtime(wildcards, attempt):
    task, method = wildcards.task, method_of(wildcards)
    epochs = sum(stage_epochs(method, wildcards.variant))
    seconds = epochs * (train_examples(task) / TRAIN_EXAMPLES_PER_S + split_size(task, "dev") / EVAL_EXAMPLES_PER_S)
    return _minutes(seconds, attempt)


def train_mem_mb(wildcards, attempt):
    return _mb(8000, train_examples(wildcards.task) + split_size(wildcards.task, "dev"), attempt)


def select_runtime(wildcards, attempt):
    """Stage 1 at every grid point on train minus the held-out split, scored on that split each epoch."""
    points = math.prod(len(values) for values in config["selection"]["grid"].values())
    epochs = stage_epochs(config["selection"]["method"])[0]
    examples = train_examples(wildcards.task)
    seconds = points * epochs * (examples / TRAIN_EXAMPLES_PER_S + 0.1 * examples / EVAL_EXAMPLES_PER_S)
    return _minutes(seconds, attempt)


def select_mem_mb(wildcards, attempt):
    return _mb(8000, train_examples(wildcards.task), attempt)


def trace_runtime(wildcards, attempt):
    return _minutes(split_size(wildcards.task, "dev") / EVAL_EXAMPLES_PER_S, attempt)


def trace_mem_mb(wildcards, attempt):
    return _mb(8000, split_size(wildcards.task, "dev"), attempt)


def latency_runtime(wildcards, attempt):
    """Every method's model, each at its Table 1 points, (1 warm-up + repeats) passes over the examples."""
    points = len(METHODS) * max(len(policy.table_thresholds(config["thresholds"])) for policy in POLICIES.values())
    passes = config["latency"]["examples"] * points * (1 + config["latency"]["repeats"])
    return _minutes(passes / LATENCY_PASSES_PER_S, attempt)


def latency_mem_mb(wildcards, attempt):
    return _mb(4000 + 1000 * len(METHODS), split_size(wildcards.task, "dev"), attempt)  # every model loaded at once
