"""Snakemake script: the latency panel beside Figure 4 (logic in smartbert.figures)."""
import logging
from pathlib import Path

from smartbert.figures import write_latency_figure

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
write_latency_figure(snakemake.input.table1, snakemake.input.data, snakemake.params.tasks, snakemake.params.methods,
                     Path(snakemake.output.png).with_suffix(""))
