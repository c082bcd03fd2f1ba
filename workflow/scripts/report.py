"""Snakemake script: results/REPORT.md (logic in smartbert.reporting.report)."""
import os

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "report"):
    runtime = [path for path in snakemake.params.runtime if os.path.exists(path)]
    steps.report(snakemake.input.sweeps, snakemake.input.data, snakemake.params.table_dir, runtime, snakemake.config,
                 snakemake.output[0], snakemake.input.latency, snakemake.params.paper_dir, snakemake.input.selection,
                 MethodCatalogue.from_rows(snakemake.params.catalogue))
