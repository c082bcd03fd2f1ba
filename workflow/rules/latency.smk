# Table 1's latency column: every method's default model timed at batch 1 on the same dev examples,
# interleaved example by example (smartbert.inference.latency.paired_latency). It takes every core and,
# where GPUs are visible, every GPU slot (timed on its GPU), so no other job runs beside it and disturbs
# the timing: batch-1 latency is bound by the host on a GPU too. On SLURM the profile sets its own.


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
        gpu=TIMING_GPUS,
        runtime=latency_runtime,
        mem_mb=latency_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} latency --task {wildcards.task:q} --models {input.models:q}"
        " {params.thresholds} --examples {params.examples}"
        " --repeats {params.repeats} --out {output:q} > {log:q} 2>&1"
