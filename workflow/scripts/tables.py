"""Snakemake script: Tables 1 and 3 and paper-vs-reproduction (logic in smartbert.tables)."""
import logging

from smartbert.tables import write_result_tables

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
write_result_tables(snakemake.input.sweeps, snakemake.input.data, snakemake.params.paper_dir,
                    snakemake.params.out_dir, snakemake.config["thresholds"], snakemake.config["tables"]["table3_tasks"],
                    snakemake.input.latency, snakemake.input.oracle)
