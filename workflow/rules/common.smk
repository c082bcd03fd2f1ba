# Config checks, the list of models to train, and the paths and parameters rules share.
import json
import os
import re

from snakemake.exceptions import WorkflowError

from smartbert.config import from_dict
from smartbert.data.tasks import get_task, training_task
from smartbert.errors import SmartBertError
from smartbert.registry import get_method

ENV = "../envs/smartbert.yaml"
PAPER_DIR = os.path.join(workflow.basedir, "results", "paper")  # the paper's tables, transcribed (in the repository)
SKIP_ONLY = "skiponly"  # a policy on SmartBERT's default model, not a training
GATED_METHOD = "smartbert"


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
                if task not in config["tasks"]:
                    raise SmartBertError(f"variant {name!r} runs on {task!r}, which is not in `tasks:` {config['tasks']}")
        grid = config["selection"]["grid"]
        if grid:
            method = config["selection"]["method"]
            if method not in config["methods"]:
                raise SmartBertError(f"selection.method {method!r} is not under `methods:`")
            from_dict(get_method(method).config_class, {k: v[0] for k, v in grid.items()}, "config selection.grid")
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
# every core of a local run (training, tracing and timing jobs take the machine); on a cluster, where
# --cores is not given, the profile's set-threads decides
ALL_CORES = workflow.resource_settings.cores or 1


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


# ---- which models exist -------------------------------------------------------------------------


def variant_method(variant):
    return config["variants"][variant]["method"]


def models():
    """(task, method, variant, seed) of every evaluation (trace, sweep) the config asks for; the model
    traced is that of ``training_task(task)`` (itself except for MNLI-mm)."""
    found = [(t, m, "default", s) for t in TASKS for m in METHODS for s in SEEDS]
    for name, variant in config["variants"].items():
        found += [(t, variant["method"], name, s) for t in (variant["tasks"] or TASKS) for s in SEEDS]
    return found


def sweep_path(task, method, variant, seed):
    return f"results/sweeps/{task}/{method}/{variant}/seed{seed}.csv"


def all_sweeps():
    paths = [sweep_path(*model) for model in models()]
    if GATED_METHOD in METHODS:
        paths += [sweep_path(t, GATED_METHOD, SKIP_ONLY, s) for t in TASKS for s in SEEDS]
    return paths


def sweeps_of(tasks, variants):
    """Sweeps of ``variants`` on ``tasks`` (figures 5 and 6; a run without SmartBERT still draws them, empty)."""
    return [sweep_path(t, m, v, s) for (t, m, v, s) in models() if t in tasks and v in variants]


def variant_tasks(variant):
    return list(config["variants"][variant]["tasks"] or TASKS)


# ---- what a training run gets -------------------------------------------------------------------


def max_train_examples(task):
    budget = config["data"]["max_train_examples"]
    return budget.get(task, budget.get("default"))


def method_of(wildcards):
    return wildcards.method if wildcards.variant == "default" else variant_method(wildcards.variant)


def backbone_of(method):
    return config["methods"][method]["backbone"] or config["backbone"]


def run_config_for(task, method, variant="default"):
    """The `--config` mapping of one training: shared train settings, the method's, the variant's."""
    block = config["methods"][method]
    train = {**config["train"], **block["train"], "max_train_examples": max_train_examples(task)}
    method_config = dict(block["config"])
    if variant != "default":
        method_config.update(config["variants"][variant]["config"])
    return json.dumps({"train": train, "method": method_config}, sort_keys=True)


def run_config(wildcards):
    return run_config_for(wildcards.task, method_of(wildcards), wildcards.variant)


def needs_selection(method):
    return bool(config["selection"]["grid"]) and method == config["selection"]["method"]


def reused_methods(method):
    """Methods whose trained models a method's stages reuse or distil from (DeeBERT, DistilBERT: bert)."""
    stages = get_method(method).stages(from_dict(get_method(method).config_class, config["methods"][method]["config"], method))
    return sorted({needed for stage in stages for needed in (stage.reuse, stage.teacher) if needed})


def model_dir(task, method, variant, seed):
    return f"results/models/{task}/{method}/{variant}/seed{seed}"


def trained_model(wildcards):
    """The model a trace evaluates: this task's own, or (MNLI-mm) the MNLI model."""
    return model_dir(training_task(wildcards.task), wildcards.method, wildcards.variant, wildcards.seed)


def train_inputs(wildcards):
    method = method_of(wildcards)
    inputs = {"data": f"results/data/{wildcards.task}.json"}
    if needs_selection(method):
        inputs["selected"] = f"results/selection/{wildcards.task}/selected.yaml"
    for needed in reused_methods(method):
        inputs[f"init_{needed}"] = model_dir(wildcards.task, needed, "default", wildcards.seed)
    return inputs


def init_args(wildcards, input):
    return " ".join(f"--init-from {key[5:]}={value}" for key, value in input.items() if key.startswith("init_"))


def selected_args(wildcards, input):
    return f"--config {input.selected}" if "selected" in input.keys() else ""


def table_thresholds(wildcards):
    """Table 1's thresholds for the method's exit rule: S values, or patiences for patience-based exits."""
    policy = get_method(method_of(wildcards)).default_policy
    values = config["thresholds"]["patience"] if policy == "patience" else config["thresholds"]["table"]
    return ",".join(str(value) for value in values)


def reference_args(wildcards):
    reference = config["reference_backbone"]
    return f"--reference-backbone {reference}" if reference else ""


def all_tables():
    return [f"results/tables/{name}.{ext}" for name in ("table1", "table2", "table3", "paper_vs_repro")
            for ext in ("csv", "md", "tex")]


def all_figures():
    names = ["fig4_tradeoff", "fig5_contrast", "fig6_gate_training"] + (["fig4_latency"] if LATENCY else [])
    return [f"figures/{name}.{ext}" for name in names for ext in ("png", "pdf")]


# ---- latency ------------------------------------------------------------------------------------

LATENCY = config["latency"]["examples"] > 0


def latency_files():
    return expand("results/latency/{task}.csv", task=TASKS) if LATENCY else []


def latency_models(wildcards):
    """Every method's default model (first seed) that this task evaluates."""
    return [model_dir(training_task(wildcards.task), m, "default", SEEDS[0]) for m in METHODS]


# ---- tables, figures, report ------------------------------------------------------------------


def data_summaries():
    return expand("results/data/{task}.json", task=TASKS)


def figure_tasks(variants):
    """Tasks on which every one of ``variants`` ran."""
    return [t for t in TASKS if all(t in variant_tasks(v) for v in variants)]


FIGURES = {
    "fig4_tradeoff": dict(kind="fig4", tasks=config["figures"]["fig4_tasks"] or TASKS, variants=[]),
    "fig5_contrast": dict(kind="fig5", tasks=figure_tasks(config["figures"]["fig5_variants"]),
                          variants=config["figures"]["fig5_variants"]),
    "fig6_gate_training": dict(kind="fig6", tasks=figure_tasks(config["figures"]["fig6_variants"]),
                               variants=config["figures"]["fig6_variants"]),
}


def figure_sweeps(wildcards):
    spec = FIGURES[wildcards.figure]
    if spec["kind"] == "fig4":
        return [sweep_path(t, m, "default", s) for t in spec["tasks"] for m in METHODS for s in SEEDS]
    return sweeps_of(spec["tasks"], ["default", *spec["variants"]])


# Wall times come from the benchmark files of the train, trace and select jobs, which Snakemake writes
# beside those jobs (not outputs another job can depend on); the report reads those of this config.
def runtime_files():
    files = [f"results/runtime/{step}/{t}/{m}/{v}/seed{s}.tsv" for (t, m, v, s) in models() for step in ("train", "trace")]
    if config["selection"]["grid"]:
        files += [f"results/runtime/select/{t}.tsv" for t in TASKS if config["selection"]["method"] in METHODS]
    return files
