# SmartBERT reproduction: data -> train -> trace -> sweep (+ latency) -> tables, figures, report.
#   snakemake --cores all --resources gpu=1                                  quick profile (default)
#   snakemake --cores all --resources gpu=1 --configfile config/paper.yaml   the paper's protocol
#   snakemake --profile workflow/profiles/slurm --configfile config/paper.yaml   on a SLURM cluster
from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


wildcard_constraints:
    task=_alternatives(list(dict.fromkeys(TASKS + TRAIN_TASKS))),
    method=_alternatives(METHODS),
    variant=_alternatives(VARIANTS + [SKIP_ONLY]),
    seed=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/trace.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/latency.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.report.output,
        all_tables(),
        all_figures(),
    default_target: True
