# Training: SmartBERT's lambda selection per task (held-out train, never dev: one job per grid point,
# then `choose`), then every model.
# A stage that reuses another method's model (DeeBERT's stage 1 is BERT) depends on that model.
# Both are GPU jobs (common.smk: threads and GPUs) with runtime and memory from their work (cluster).


# One select job per (task, grid point): its first stage trained and scored on held-out train, its row
# kept (temp: once `choose` wrote the table, a run whose selection is published never trains them
# again). The points run side by side (N GPUs, or the cores), each its own SLURM job; a killed point
# resumes from its checkpoints. They gate the selected method's trainings, so they start first.
rule select:
    input:
        data=DATA_SUMMARY,
    output:
        row=temp(SELECTION_POINT),
    log:
        logs("select/{task}/{point}.log"),
    benchmark:
        SELECTION_POINT_RUNTIME
    params:
        method=config["selection"]["method"],
        backbone=lambda wc: backbone_of(config["selection"]["method"]),
        config=lambda wc: run_config_for(wc.task, config["selection"]["method"]),
        grid=PLAN.grid_args(),
        index=lambda wc: PLAN.selection_point_index(wc.point),
        seed=SEEDS[0],
        fraction=config["selection"]["heldout_fraction"],
        out=lambda wc: os.path.dirname(SELECTED.format(task=wc.task)),
    threads: DEVICE_THREADS
    priority: SELECT_PRIORITY
    resources:
        gpu=DEVICE_GPUS,
        runtime=select_runtime,
        mem_mb=select_mem_mb,
    conda:
        ENV
    shell:
        "smartbert -q --threads {threads} select --task {wildcards.task:q} --method {params.method}"
        " --backbone {params.backbone:q} --config {params.config:q} {params.grid} --seed {params.seed}"
        " --heldout-fraction {params.fraction} --out {params.out:q} --point {params.index} --row {output.row:q}"
        " > {log:q} 2>&1"


# Every point's row -> selection.csv and selected.yaml (selection.choose), the points' checkpoints removed.
rule choose:
    input:
        rows=selection_rows,
    output:
        selected=SELECTED,
        table=SELECTION_TABLE,
    log:
        logs("choose/{task}.log"),
    params:
        grid=PLAN.grid_args(),
        tolerance=config["selection"]["tolerance"],
        out=lambda wc, output: os.path.dirname(output.selected),
    conda:
        ENV
    shell:
        "smartbert -q choose --rows {input.rows:q} {params.grid} --tolerance {params.tolerance}"
        " --out {params.out:q} > {log:q} 2>&1"


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
