"""Snakemake script: the paper's Table 1 rows of one method on one task as an external sweep (smartbert.external)."""

from smartbert.external import paper_sweep, write_external_sweep
from smartbert.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "paper sweep"):
    write_external_sweep(paper_sweep(snakemake.input[0], snakemake.wildcards.task, snakemake.params.method, snakemake.params.name),
                         snakemake.output[0])
