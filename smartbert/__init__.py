"""SmartBERT reproduction suite: dynamic early exiting + layer skipping for BERT (IJCAI 2023).

Layers, each a subpackage that imports only those below it (docs/design.md; enforced by the
import-linter contracts in pyproject.toml):

- ``app``        the ``smartbert`` command line, the workflow's steps and plan
- ``reporting``  tables, figures, claims, REPORT.md (no torch)
- ``training``   trainer, precision, resume, a method's training, lambda selection
- ``inference``  trace recording, dynamic inference, latency
- ``methods``    the method interface and registry, checkpoints, SmartBERT
- ``modeling``   backbones, encoder, heads, model, losses, FLOPs counting, devices
- ``replay``     policies, traces, replay, sweeps, oracle, gate statistics, curves, cost (no torch)
- ``data``       tasks, sources, tokenisation, metrics
- ``core``       errors, files, formats, config, provenance, names
"""

__version__ = "0.1.0"
