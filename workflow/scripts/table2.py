"""Snakemake script: Table 2, FLOPs per component (logic in smartbert.tables)."""

from smartbert.tables import write_flops_table
from smartbert.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "table 2"):
    write_flops_table(snakemake.params.backbones, snakemake.config["tables"]["seq_len"], snakemake.params.paper_dir,
                      snakemake.params.out_dir)
