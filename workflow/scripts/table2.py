"""Snakemake script: Table 2, FLOPs per component (logic in smartbert.tables)."""
import logging

from smartbert.tables import write_flops_table

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
write_flops_table(snakemake.params.backbones, snakemake.config["tables"]["seq_len"], snakemake.params.paper_dir,
                  snakemake.params.out_dir)
