"""Snakemake script: results/REPORT.md (logic in smartbert.report)."""
import logging
import os

from smartbert.report import write_report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
runtime = [path for path in snakemake.params.runtime if os.path.exists(path)]
write_report(snakemake.input.sweeps, snakemake.input.data, snakemake.params.table_dir, runtime, snakemake.config,
             snakemake.output[0], snakemake.input.latency, snakemake.params.paper_dir, snakemake.input.selection)
