"""Snakemake script: the paper's Table 1 rows of one method on one task as an external sweep (smartbert.external)."""
import logging

from smartbert.external import paper_sweep, write_external_sweep

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
write_external_sweep(paper_sweep(snakemake.input[0], snakemake.wildcards.task, snakemake.params.method, snakemake.params.name),
                     snakemake.output[0])
