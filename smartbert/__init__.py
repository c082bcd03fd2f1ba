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

import importlib.abc
import sys

__version__ = "0.1.0"

# Modules of the flat layout before the layers (2026-12): importing one names its new place.
_MOVED = {
    "errors": "smartbert.core.errors", "io": "smartbert.core.io", "formats": "smartbert.core.formats",
    "config": "smartbert.core.config", "provenance": "smartbert.core.provenance", "metrics": "smartbert.data.metrics",
    "policies": "smartbert.replay.policies", "trace": "smartbert.replay.trace (recording: smartbert.inference.record)",
    "sweep": "smartbert.replay.sweep", "oracle": "smartbert.replay.oracle", "curves": "smartbert.replay.curves",
    "flops": "smartbert.replay.cost (counting: smartbert.modeling.flops)",
    "gate_stats": "smartbert.replay.gates (tables: smartbert.reporting.gate_tables)",
    "backbones": "smartbert.modeling.backbones", "distil_convert": "smartbert.modeling.distil_convert",
    "encoder": "smartbert.modeling.encoder", "heads": "smartbert.modeling.heads", "model": "smartbert.modeling.model",
    "losses": "smartbert.modeling.losses", "flops_count": "smartbert.modeling.flops_count", "device": "smartbert.modeling.device",
    "frozen": "smartbert.modeling.frozen", "registry": "smartbert.methods.registry", "checkpoint": "smartbert.methods.checkpoint",
    "dynamic": "smartbert.inference.dynamic", "latency": "smartbert.inference.latency", "trainer": "smartbert.training.trainer",
    "precision": "smartbert.training.precision", "resume": "smartbert.training.resume", "selection": "smartbert.training.selection",
    "pipeline": "smartbert.training.pipeline (data: smartbert.data.prepare; tracing: smartbert.inference.tracing)",
    "results": "smartbert.reporting.results", "claims": "smartbert.reporting.claims", "external": "smartbert.reporting.external",
    "tables": "smartbert.reporting.tables", "curve_table": "smartbert.reporting.curve_table",
    "oracle_table": "smartbert.reporting.oracle_table", "figures": "smartbert.reporting.figures",
    "report": "smartbert.reporting.report", "cli": "smartbert.app.cli", "workflow_step": "smartbert.app.workflow_step",
    "download": "smartbert.app.download",
}


class _MovedModule(importlib.abc.MetaPathFinder):
    """Asked last, for a ``smartbert.X`` nothing else found: if X moved, say where to."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        package, _, name = fullname.partition(".")
        if package == "smartbert" and name in _MOVED:
            raise ModuleNotFoundError(f"{fullname} moved to {_MOVED[name]} when the library was layered "
                                      f"(docs/design.md, README \"Layout\"); import it from there", name=fullname)
        return None


sys.meta_path.append(_MovedModule())
