# Exit thresholds with a statistical guarantee (smartbert.replay.calibrate), per early-exit model from its
# dev trace: Learn-then-Test, conformal risk control and the empirical pick, each checked on random
# calibration/test halves of dev. Then the thresholds shipped are timed at batch 1, as Table 1's are.


rule calibrate:
    input:
        TRACE,
    output:
        CALIBRATION,
    log:
        logs("calibration/{task}/{method}/{variant}/seed{seed}.log"),
    wildcard_constraints:
        variant=DEFAULT_VARIANT,
    params:
        args=PLAN.calibrate_args() if PLAN.calibrates else "",
        reference=reference_args,
    conda:
        ENV
    shell:
        "smartbert -q calibrate --trace {input:q} {params.args} {params.reference} --tag variant={wildcards.variant}"
        " --out {output:q} > {log:q} 2>&1"


rule latency_calibrated:
    input:
        models=calibrated_latency_models,
        calibration=task_calibrations,
    output:
        CALIBRATION_LATENCY,
    log:
        logs("calibration/{task}/latency.log"),
    params:
        epsilons=",".join(f"{e:g}" for e in config["calibration"]["epsilons"]),
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
        " --calibrated {input.calibration:q} --epsilons {params.epsilons}"
        " --examples {params.examples} --repeats {params.repeats} --out {output:q} > {log:q} 2>&1"
