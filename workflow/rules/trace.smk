# One trace per model: every layer, gate and exit head it evaluates on dev (DESIGN.md).


rule trace:
    input:
        trained_model,
    output:
        res("traces/{task}/{method}/{variant}/seed{seed}.npz"),
    log:
        logs("trace/{task}/{method}/{variant}/seed{seed}.log"),
    benchmark:
        res("runtime/trace/{task}/{method}/{variant}/seed{seed}.tsv")
    threads: DEVICE_THREADS
    resources:
        gpu=DEVICE_GPUS,
        runtime=trace_runtime,
        mem_mb=trace_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} trace --model {input:q} --task {wildcards.task:q} --out {output:q} > {log:q} 2>&1"
