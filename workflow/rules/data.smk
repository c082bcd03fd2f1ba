# Per task: check the data is there and well formed, summarise it (sizes, labels, majority class).


rule data_summary:
    output:
        res("data/{task}.json"),
    log:
        logs("data/{task}.log"),
    params:
        source=config["data"]["source"],
    priority: 100
    conda:
        ENV
    shell:
        "smartbert -q data --task {wildcards.task:q} --data-source {params.source} --out {output:q} > {log:q} 2>&1"
