"""Snakemake script: cost at guaranteed quality against eps (logic in smartbert.reporting.figures)."""
from pathlib import Path

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "guaranteed-cost figure"):
    steps.guaranteed_figure(snakemake.input.calibration, snakemake.params.tasks, Path(snakemake.output.png).with_suffix(""),
                            MethodCatalogue.from_rows(snakemake.params.catalogue))
