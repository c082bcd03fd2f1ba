"""The workflow's plan in Python: what the Snakefile computes from a profile's configuration.

:mod:`~smartbert.app.plan.experiment`: the models to train, trace and sweep, their run configs, the
figure specs and the configuration's cross-section checks. :mod:`~smartbert.app.plan.resources`: what
each job asks of the machine (threads, GPUs) and of a cluster (runtime, memory). The ``.smk`` files
keep the path templates, the ``wildcards`` input functions and the rules; these modules are unit
tested without Snakemake (``tests/unit/app/``)."""
