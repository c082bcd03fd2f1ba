"""Snakemake script: Table 2, FLOPs per component (logic in smartbert.reporting.tables)."""

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "table 2"):
    steps.flops_table(snakemake.params.backbones, snakemake.config["tables"]["seq_len"], snakemake.params.paper_dir,
                      snakemake.params.out_dir)
