# The worked example of a baseline from outside (README, "A baseline from outside: a rule of your
# own"): the paper's own SmartBERT numbers, transcribed in results/paper/table1.csv, written per task
# as a sweep in the schema of smartbert.reporting.external, so that Table 1, Figure 4 and REPORT.md show them
# beside this run's models. A profile turns it on with
#   external: {paper: {rules: workflow/rules/external/paper.smk, sweep: "external/paper/{task}.csv"}}
# A rule of your own looks the same: any inputs, any code, one sweep CSV per task as its output.


rule external_paper:
    input:
        os.path.join(PAPER_DIR, "table1.csv"),
    output:
        res("external/paper/{task}.csv"),
    log:
        logs("external/paper/{task}.log"),
    params:
        catalogue=METHOD_CATALOGUE,
        method="smartbert",
        name="paper",
    localrule: True
    conda:
        ENV_FILE
    script:
        "../../scripts/paper_sweep.py"
