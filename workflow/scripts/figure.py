"""Snakemake script: one of Figures 4-6 (logic in smartbert.reporting.figures)."""
from pathlib import Path

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "figure"):
    steps.figure(snakemake.params.kind, snakemake.input.sweeps, snakemake.input.data, snakemake.params.tasks,
                 snakemake.params.methods, snakemake.params.variants, Path(snakemake.output.png).with_suffix(""),
                 MethodCatalogue.from_rows(snakemake.params.catalogue))
