# Figures 4-6: metric vs cost % per task, PNG and PDF.


rule figure:
    input:
        sweeps=figure_sweeps,
        data=lambda wc: expand("results/data/{task}.json", task=FIGURES[wc.figure]["tasks"]),
    output:
        png=report("figures/{figure}.png", caption="../report/figure.rst", category="Figures"),
        pdf="figures/{figure}.pdf",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    params:
        kind=lambda wc: FIGURES[wc.figure]["kind"],
        tasks=lambda wc: FIGURES[wc.figure]["tasks"],
        variants=lambda wc: FIGURES[wc.figure]["variants"],
        methods=METHODS,
    conda:
        ENV
    script:
        "../scripts/figure.py"
