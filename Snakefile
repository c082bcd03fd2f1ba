# SmartBERT reproduction: data -> train -> trace -> sweep, calibrate (+ latency) -> tables, figures, report.
#   snakemake --cores all --resources gpu=1                                      quick profile (default)
#   snakemake --cores all --resources gpu=4 --configfile config/paper.yaml       the paper's protocol, 4 GPUs
#   snakemake --workflow-profile workflow/profiles/slurm --configfile config/paper.yaml   on a SLURM cluster
# Each profile writes under its own root: results/<profile>/, figures/<profile>/, logs/<profile>/.
import os

from snakemake.utils import min_version, validate

min_version("9.0")

REPO_DIR = workflow.basedir  # the repository (this file is its Snakefile; rules, schemas, scripts under workflow/)


# The experiment is exactly one profile: the --configfile given, else the quick profile. Never both:
# Snakemake merges --configfile into a `configfile:` key by key, so an unconditional
# `configfile: "config/config.yaml"` would hand the quick profile's budgets to every other profile.
if not workflow.config_settings.configfiles:

    configfile: os.path.join(REPO_DIR, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


wildcard_constraints:
    task=_alternatives(list(dict.fromkeys(TASKS + TRAIN_TASKS))),
    method=_alternatives(METHODS),
    variant=_alternatives(VARIANTS + [SKIP_ONLY]),
    seed=r"\d+",
    point=_alternatives(PLAN.selection_points()) or "(?!)",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/trace.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/latency.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Baselines from outside (config `external:`): each one's Snakemake file, whose rule writes its sweeps.
for _rules in dict.fromkeys(PLAN.external_rules(name) for name in EXTERNAL):

    include: _rules


# Seconds of CPU each and nothing to queue for: on a cluster these run beside Snakemake itself (the
# data summaries and `download` there too: the login node reaches the hub and fills the cache the compute
# nodes read).
localrules:
    all,
    choose,
    data_summary,
    download,
    sweep,
    sweep_skip_only,
    oracle,
    calibrate,
    tables,
    table2,
    figure,
    figure_latency,
    figure_guaranteed,
    report,


rule all:
    input:
        rules.report.output,
        all_tables(),
        all_figures(),
    default_target: True
