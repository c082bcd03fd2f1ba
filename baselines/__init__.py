"""Baselines, one file each; every module registers its method with ``smartbert.methods.registry.register``.

Adding a baseline = one file here + (with the workflow) one config block. See README.
"""
