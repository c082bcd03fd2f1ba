"""The application: the ``smartbert`` command line, the steps Snakemake runs, and the workflow's plan."""
