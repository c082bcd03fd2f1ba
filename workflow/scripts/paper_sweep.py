"""Snakemake script: the paper's Table 1 rows of one method on one task as an external sweep (smartbert.reporting.external)."""

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "paper sweep"):
    steps.external_paper_sweep(snakemake.input[0], snakemake.wildcards.task, snakemake.params.method, snakemake.params.name,
                               snakemake.output[0], MethodCatalogue.from_rows(snakemake.params.catalogue))
