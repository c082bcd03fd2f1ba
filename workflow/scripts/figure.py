"""Snakemake script: one of Figures 4-6 (logic in smartbert.reporting.figures)."""
from pathlib import Path

from smartbert.reporting.figures import write_figure
from smartbert.app.catalogue import method_catalogue
from smartbert.app.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "figure"):
    write_figure(snakemake.params.kind, snakemake.input.sweeps, snakemake.input.data, snakemake.params.tasks,
                 snakemake.params.methods, snakemake.params.variants, Path(snakemake.output.png).with_suffix(""), catalogue=method_catalogue())
