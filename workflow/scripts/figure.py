"""Snakemake script: one of Figures 4-6 (logic in smartbert.figures)."""
import logging
from pathlib import Path

from smartbert.figures import write_figure

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
write_figure(snakemake.params.kind, snakemake.input.sweeps, snakemake.input.data, snakemake.params.tasks,
             snakemake.params.methods, snakemake.params.variants, Path(snakemake.output.png).with_suffix(""))
