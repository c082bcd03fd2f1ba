# Tables 1-3, paper-vs-reproduction and the curve-level comparison (AUC, area between curves), each as CSV (tidy), Markdown and LaTeX (the paper's layout).


rule tables:
    input:
        sweeps=result_sweeps(),
        data=data_summaries(),
        latency=latency_files(),
        oracle=all_oracles(),
        calibration=all_calibrations(),
        calibration_latency=calibration_latency_files(),
        paper=[os.path.join(PAPER_DIR, "table1.csv"), os.path.join(PAPER_DIR, "table3.csv")],
    output:
        report(
            multiext(res("tables/table1"), ".csv", ".md", ".tex"),
            caption="../report/table1.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/table3"), ".csv", ".md", ".tex"),
            caption="../report/table3.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/paper_vs_repro"), ".csv", ".md", ".tex"),
            caption="../report/paper_vs_repro.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/curves_auc"), ".csv", ".md", ".tex"),
            caption="../report/curves.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/curves_between"), ".csv", ".md", ".tex"),
            caption="../report/curves.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/oracle"), ".csv", ".md", ".tex"),
            caption="../report/oracle.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/heads"), ".csv", ".md", ".tex"),
            caption="../report/oracle.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/gates"), ".csv", ".md", ".tex"),
            caption="../report/gates.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/skip_only_gap"), ".csv", ".md", ".tex"),
            caption="../report/gates.rst",
            category="Tables",
        ),
        report(
            multiext(res("tables/guaranteed"), ".csv", ".md", ".tex"),
            caption="../report/guaranteed.rst",
            category="Tables",
        ),
    log:
        logs("tables/tables.log"),
    params:
        catalogue=METHOD_CATALOGUE,
        paper_dir=lambda wildcards, input: os.path.dirname(input.paper[0]),
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        ENV
    script:
        "../scripts/tables.py"


rule table2:
    input:
        paper=os.path.join(PAPER_DIR, "table2.csv"),
    output:
        report(multiext(res("tables/table2"), ".csv", ".md", ".tex"), caption="../report/table2.rst", category="Tables"),
    log:
        logs("tables/table2.log"),
    params:
        backbones=["bert-base-uncased", config["backbone"]] + ([config["reference_backbone"]] if config["reference_backbone"] else []),
        paper_dir=lambda wildcards, input: os.path.dirname(input.paper),
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        ENV
    script:
        "../scripts/table2.py"
