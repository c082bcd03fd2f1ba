# Threshold sweeps by replaying traces: the method's own exit rule over Table 1's thresholds and
# (dense: true) the policy's dense grid; skip-only is SmartBERT's trace replayed with no exits.


rule sweep:
    input:
        TRACE,
    output:
        SWEEP,
    log:
        logs("sweep/{task}/{method}/{variant}/seed{seed}.log"),
    wildcard_constraints:
        variant=_alternatives(VARIANTS),
    params:
        thresholds=table_thresholds_arg,
        dense="--with-grid" if config["thresholds"]["dense"] else "",
        reference=reference_args,
    conda:
        ENV
    shell:
        "smartbert -q sweep --trace {input:q} {params.thresholds} {params.dense} {params.reference}"
        " --tag variant={wildcards.variant} --out {output:q} > {log:q} 2>&1"


rule sweep_skip_only:
    input:
        fill(TRACE, method=GATED_METHOD, variant=DEFAULT_VARIANT),
    output:
        fill(SWEEP, method=GATED_METHOD, variant=SKIP_ONLY),
    log:
        logs(f"sweep/{{task}}/{GATED_METHOD}/{SKIP_ONLY}/seed{{seed}}.log"),
    params:
        reference=reference_args,
        variant=SKIP_ONLY,
    conda:
        ENV
    shell:
        "smartbert -q sweep --trace {input:q} --policy none {params.reference} --tag variant={params.variant}"
        " --out {output:q} > {log:q} 2>&1"


# Oracle exits of each trace (the earliest head that is right and stays right), the method's own
# policy against them, and every head's metrics: the tables' oracle and heads tables, REPORT.md.
rule oracle:
    input:
        TRACE,
    output:
        ORACLE,
    log:
        logs("oracle/{task}/{method}/{variant}/seed{seed}.log"),
    wildcard_constraints:
        variant=_alternatives(VARIANTS),
    params:
        reference=reference_args,
        threshold=middle_threshold_arg,
    conda:
        ENV
    shell:
        "smartbert -q oracle --trace {input:q} {params.threshold} {params.reference}"
        " --tag variant={wildcards.variant} --out {output:q} > {log:q} 2>&1"
