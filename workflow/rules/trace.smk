# One trace per model: every layer, gate and exit head it evaluates on dev (docs/design.md).


rule trace:
    input:
        trained_model,
    output:
        TRACE,
    log:
        logs("trace/{task}/{method}/{variant}/seed{seed}.log"),
    benchmark:
        fill(MODEL_RUNTIME, step="trace")
    threads: DEVICE_THREADS
    resources:
        gpu=DEVICE_GPUS,
        runtime=trace_runtime,
        mem_mb=trace_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} trace --model {input:q} --task {wildcards.task:q} --out {output:q} > {log:q} 2>&1"
