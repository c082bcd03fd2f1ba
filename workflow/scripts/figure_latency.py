"""Snakemake script: the latency panel beside Figure 4 (logic in smartbert.reporting.figures)."""
from pathlib import Path

from smartbert.reporting.figures import write_latency_figure
from smartbert.app.catalogue import method_catalogue
from smartbert.app.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "latency figure"):
    write_latency_figure(snakemake.input.table1, snakemake.input.data, snakemake.params.tasks, snakemake.params.methods,
                         Path(snakemake.output.png).with_suffix(""), catalogue=method_catalogue())
