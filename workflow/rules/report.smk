# results/<profile>/REPORT.md: each claim of the paper, reproduced or not, with the numbers.


rule report:
    input:
        sweeps=result_sweeps(),
        data=data_summaries(),
        tables=all_tables(),
        latency=latency_files(),
        selection=selection_tables(),
        paper=[os.path.join(PAPER_DIR, name) for name in ("table1.csv", "table2.csv", "table3.csv", "majority.csv")],
        traces=[TRACE.format(task=t, method=m, variant=v, seed=s) for (t, m, v, s) in models()],
    output:
        report(res("REPORT.md"), caption="../report/report.rst", category="Report"),
    log:
        logs("report.log"),
    params:
        table_dir=lambda wildcards, input: os.path.dirname(input.tables[0]),
        runtime=runtime_files(),
        paper_dir=lambda wildcards, input: os.path.dirname(input.paper[0]),
    conda:
        ENV
    script:
        "../scripts/report.py"
