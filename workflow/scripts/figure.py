"""Snakemake script: one of Figures 4-6 (logic in smartbert.figures)."""
from pathlib import Path

from smartbert.figures import write_figure
from smartbert.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "figure"):
    write_figure(snakemake.params.kind, snakemake.input.sweeps, snakemake.input.data, snakemake.params.tasks,
                 snakemake.params.methods, snakemake.params.variants, Path(snakemake.output.png).with_suffix(""))
