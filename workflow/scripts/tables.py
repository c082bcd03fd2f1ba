"""Snakemake script: Tables 1 and 3 and paper-vs-reproduction (logic in smartbert.reporting.tables)."""

from smartbert.reporting.tables import write_result_tables
from smartbert.app.catalogue import method_catalogue
from smartbert.app.workflow_step import workflow_step

with workflow_step(snakemake.log[0], "tables"):
    write_result_tables(snakemake.input.sweeps, snakemake.input.data, snakemake.params.paper_dir,
                        snakemake.params.out_dir, snakemake.config["thresholds"], snakemake.config["tables"]["table3_tasks"],
                        snakemake.input.latency, snakemake.input.oracle, methods=method_catalogue())
