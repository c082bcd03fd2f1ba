"""Snakemake script: Table 2, FLOPs per component (logic in smartbert.reporting.tables)."""

from smartbert.app.costs import backbone_costs
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.tables import write_flops_table

with workflow_step(snakemake.log[0], "table 2"):
    seq_len = snakemake.config["tables"]["seq_len"]
    write_flops_table(backbone_costs(snakemake.params.backbones, seq_len), seq_len, snakemake.params.paper_dir,
                      snakemake.params.out_dir)
