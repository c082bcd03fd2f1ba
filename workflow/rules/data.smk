# Per task: check the data is there and well formed, summarise it (sizes, labels, majority class).


rule data_summary:
    output:
        DATA_SUMMARY,
    log:
        logs("data/{task}.log"),
    params:
        source=config["data"]["source"],
    priority: 100
    conda:
        ENV
    shell:
        "smartbert -q data --task {wildcards.task:q} --data-source {params.source} --out {output:q} > {log:q} 2>&1"


# Before an offline run (compute nodes without network): on a login node, `snakemake download
# --configfile PROFILE` puts every task and hub backbone the profile names into the Hugging Face cache
# (HF_HOME), which the jobs then read with HF_HUB_OFFLINE=1. Not part of `all`: ask for it by name.
rule download:
    output:
        res("download.json"),
    log:
        logs("download.log"),
    params:
        source=config["data"]["source"],
        tasks=" ".join(f"--task {task}" for task in dict.fromkeys(TASKS + TRAIN_TASKS)),
        backbones=" ".join(f"--backbone {name}" for name in all_backbones()),
    conda:
        ENV
    shell:
        "smartbert download {params.tasks} {params.backbones} --data-source {params.source} --out {output:q} > {log:q} 2>&1"
