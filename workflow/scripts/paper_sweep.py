"""Snakemake script: the paper's Table 1 rows of one method on one task as an external sweep (smartbert.reporting.external)."""

from smartbert.reporting.external import paper_sweep, write_external_sweep
from smartbert.app.catalogue import method_catalogue
from smartbert.app.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "paper sweep"):
    write_external_sweep(paper_sweep(snakemake.input[0], snakemake.wildcards.task, method_catalogue()[snakemake.params.method],
                                     snakemake.params.name),
                         snakemake.output[0])
