# Figures 4-6: metric vs cost % per task, PNG and PDF; beside Figure 4, metric vs measured latency.


rule figure:
    input:
        sweeps=figure_sweeps,
        data=lambda wc: expand(DATA_SUMMARY, task=FIGURES[wc.figure]["tasks"]),
    output:
        png=report(fig("{figure}.png"), caption="../report/figure.rst", category="Figures"),
        pdf=fig("{figure}.pdf"),
    log:
        logs("figures/{figure}.log"),
    wildcard_constraints:
        figure="|".join(FIGURES),
    params:
        catalogue=METHOD_CATALOGUE,
        kind=lambda wc: FIGURES[wc.figure]["kind"],
        tasks=lambda wc: FIGURES[wc.figure]["tasks"],
        variants=lambda wc: FIGURES[wc.figure]["variants"],
        methods=METHODS + list(EXTERNAL),
    conda:
        ENV
    script:
        "../scripts/figure.py"


rule figure_latency:
    input:
        table1=res("tables/table1.csv"),
        data=expand(DATA_SUMMARY, task=FIGURES["fig4_tradeoff"]["tasks"]),
    output:
        png=report(fig("fig4_latency.png"), caption="../report/figure_latency.rst", category="Figures"),
        pdf=fig("fig4_latency.pdf"),
    log:
        logs("figures/fig4_latency.log"),
    params:
        catalogue=METHOD_CATALOGUE,
        tasks=FIGURES["fig4_tradeoff"]["tasks"],
        methods=METHODS + list(EXTERNAL),
    conda:
        ENV
    script:
        "../scripts/figure_latency.py"


rule figure_guaranteed:
    input:
        calibration=all_calibrations(),
    output:
        png=report(fig("guaranteed_cost.png"), caption="../report/figure_guaranteed.rst", category="Figures"),
        pdf=fig("guaranteed_cost.pdf"),
    log:
        logs("figures/guaranteed_cost.log"),
    params:
        catalogue=METHOD_CATALOGUE,
        tasks=TASKS,
    conda:
        ENV
    script:
        "../scripts/figure_guaranteed.py"
