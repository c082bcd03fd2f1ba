# Table 1's latency column: every method's default model timed at batch 1 on the same dev examples,
# interleaved example by example (smartbert.inference.latency.paired_latency). A GPU job where GPUs are visible
# (timed on its GPU); on a CPU-only machine it takes every core, so no other job runs beside it and
# disturbs the timing.


rule latency:
    input:
        models=latency_models,
    output:
        LATENCY_TABLE,
    log:
        logs("latency/{task}.log"),
    params:
        thresholds=latency_thresholds_args(),
        examples=config["latency"]["examples"],
        repeats=config["latency"]["repeats"],
    threads: TIMING_THREADS
    resources:
        gpu=DEVICE_GPUS,
        runtime=latency_runtime,
        mem_mb=latency_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} latency --task {wildcards.task:q} --models {input.models:q}"
        " {params.thresholds} --examples {params.examples}"
        " --repeats {params.repeats} --out {output:q} > {log:q} 2>&1"
