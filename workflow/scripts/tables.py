"""Snakemake script: Tables 1 and 3 and paper-vs-reproduction (logic in smartbert.reporting.tables)."""

from smartbert.app import steps
from smartbert.app.workflow_step import workflow_step
from smartbert.reporting.methods import MethodCatalogue

with workflow_step(snakemake.log[0], "tables"):
    steps.tables(snakemake.input.sweeps, snakemake.input.data, snakemake.params.paper_dir, snakemake.params.out_dir,
                 snakemake.config["thresholds"], snakemake.config["tables"]["table3_tasks"], snakemake.input.latency,
                 snakemake.input.oracle, MethodCatalogue.from_rows(snakemake.params.catalogue), snakemake.input.calibration,
                 snakemake.input.calibration_latency, snakemake.config["calibration"]["epsilons"])
