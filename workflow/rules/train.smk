# Training: SmartBERT's lambda selection per task (held-out train, never dev), then every model.
# A stage that reuses another method's model (DeeBERT's stage 1 is BERT) depends on that model.
# Both are GPU jobs (common.smk: threads and GPUs) with runtime and memory from their work (cluster).


rule select:
    input:
        data=DATA_SUMMARY,
    output:
        selected=SELECTED,
        table=SELECTION_TABLE,
    log:
        logs("select/{task}.log"),
    benchmark:
        SELECTION_RUNTIME
    params:
        method=config["selection"]["method"],
        backbone=lambda wc: backbone_of(config["selection"]["method"]),
        config=lambda wc: run_config_for(wc.task, config["selection"]["method"]),
        grid=PLAN.grid_args(),
        seed=SEEDS[0],
        fraction=config["selection"]["heldout_fraction"],
        tolerance=config["selection"]["tolerance"],
        out=lambda wc, output: os.path.dirname(output.selected),
    threads: DEVICE_THREADS
    resources:
        gpu=DEVICE_GPUS,
        runtime=select_runtime,
        mem_mb=select_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} select --task {wildcards.task:q} --method {params.method}"
        " --backbone {params.backbone:q} --config {params.config:q} {params.grid} --seed {params.seed}"
        " --heldout-fraction {params.fraction} --tolerance {params.tolerance} --out {params.out:q} > {log:q} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        directory(MODEL),
    log:
        logs("train/{task}/{method}/{variant}/seed{seed}.log"),
    benchmark:
        fill(MODEL_RUNTIME, step="train")
    params:
        backbone=lambda wc: backbone_of(method_of(wc)),
        config=run_config,
        selected=selected_args,
        init=init_args,
    threads: DEVICE_THREADS
    resources:
        gpu=DEVICE_GPUS,
        runtime=train_runtime,
        mem_mb=train_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} train --task {wildcards.task:q} --method {wildcards.method}"
        " --backbone {params.backbone:q} --seed {wildcards.seed} --config {params.config:q} {params.selected}"
        " {params.init} --out {output:q} > {log:q} 2>&1"
