"""Snakemake script: the latency panel beside Figure 4 (logic in smartbert.reporting.figures)."""
from pathlib import Path

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "latency figure"):
    steps.latency_figure(snakemake.input.table1, snakemake.input.data, snakemake.params.tasks, snakemake.params.methods,
                         Path(snakemake.output.png).with_suffix(""), MethodCatalogue.from_rows(snakemake.params.catalogue))
