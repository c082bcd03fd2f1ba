# results/<profile>/REPORT.md: each claim of the paper, reproduced or not, with the numbers. Its inputs are
# what a run publishes (sweeps, data summaries, latency, selection), not the models or traces: a report
# assembles from committed per-task outputs alone (cpu-full); the sweeps come after every train, trace and
# select job, so their benchmark files (the runtime section) exist by then.


rule report:
    input:
        sweeps=result_sweeps(),
        data=data_summaries(),
        tables=all_tables(),
        latency=latency_files(),
        selection=selection_tables(),
        paper=[os.path.join(PAPER_DIR, name) for name in ("table1.csv", "table2.csv", "table3.csv", "majority.csv")],
    output:
        report(res("REPORT.md"), caption="../report/report.rst", category="Report"),
    log:
        logs("report.log"),
    params:
        catalogue=METHOD_CATALOGUE,
        table_dir=lambda wildcards, input: os.path.dirname(input.tables[0]),
        runtime=runtime_files(),
        paper_dir=lambda wildcards, input: os.path.dirname(input.paper[0]),
    conda:
        ENV
    script:
        "../scripts/report.py"
