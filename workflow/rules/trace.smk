# One trace per model: every layer, gate and exit head it evaluates on dev (DESIGN.md).


rule trace:
    input:
        trained_model,
    output:
        "results/traces/{task}/{method}/{variant}/seed{seed}.npz",
    log:
        "logs/trace/{task}/{method}/{variant}/seed{seed}.log",
    benchmark:
        "results/runtime/trace/{task}/{method}/{variant}/seed{seed}.tsv"
    threads: ALL_CORES
    resources:
        gpu=1,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} trace --model {input:q} --task {wildcards.task:q} --out {output:q} > {log:q} 2>&1"
