"""The workflow's assembling steps (``workflow/scripts/*.py`` call these): the reporting layer's
writers, given what only the application can give them, the method catalogue read from the registry
and FLOPs counted with torch. The workflow reads the catalogue once, in its own process, and hands it
to each step (``catalogue``): a step then never imports torch (which costs a job ~5 s to start)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from smartbert.modeling.backbones import backbone_shape
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import ComponentCosts
from smartbert.reporting.external import paper_sweep, write_external_sweep
from smartbert.reporting.figures import write_figure, write_guaranteed_figure, write_latency_figure
from smartbert.reporting.guaranteed import write_guaranteed_table
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.report import write_report
from smartbert.reporting.tables import write_flops_table, write_result_tables


def _catalogue(given: MethodCatalogue | None) -> MethodCatalogue:
    """``given``, else the registry's (imports every method, and torch)."""
    if given is not None:
        return given
    from smartbert.app.catalogue import method_catalogue

    return method_catalogue()


def backbone_costs(backbones: Iterable[str], seq_len: int, num_labels: int = 2) -> dict[str, ComponentCosts]:
    """Each named backbone's component costs at ``seq_len`` (shapes of known backbones need no download)."""
    return {name: component_costs(backbone_shape(name), seq_len, num_labels) for name in dict.fromkeys(backbones)}


def tables(sweeps: Sequence[str], data: Sequence[str], paper_dir: str | Path, out_dir: str | Path,
           thresholds: Mapping[str, Sequence[float]], table3_tasks: Sequence[str], latency: Sequence[str] = (),
           oracles: Sequence[str] = (), catalogue: MethodCatalogue | None = None, calibrations: Sequence[str] = (),
           calibration_latency: Sequence[str] = (), epsilons: Sequence[float] = ()) -> None:
    """Tables 1 and 3, paper vs reproduction, curves, oracle, heads and gates (:func:`write_result_tables`), and
    the cost at guaranteed quality at ``epsilons`` (:func:`write_guaranteed_table`; empty without calibrations)."""
    methods = _catalogue(catalogue)
    write_result_tables(sweep_paths=sweeps, data_paths=data, paper_dir=paper_dir, out_dir=out_dir, thresholds=thresholds,
                        table3_tasks=table3_tasks, latency_paths=latency, oracle_paths=oracles, methods=methods)
    write_guaranteed_table(calibrations, calibration_latency, epsilons, out_dir, methods=methods)


def flops_table(backbones: Sequence[str], seq_len: int, paper_dir: str | Path, out_dir: str | Path) -> None:
    """Table 2 for the named backbones at ``seq_len``."""
    write_flops_table(backbone_costs(backbones, seq_len), seq_len, paper_dir, out_dir)


def figure(kind: str, sweeps: Sequence[str], data: Sequence[str], tasks: Sequence[str], methods: Sequence[str],
           variants: Sequence[str], stem: str | Path, catalogue: MethodCatalogue | None = None) -> None:
    """Figure 4, 5 or 6 (:func:`write_figure`)."""
    write_figure(kind, sweeps, data, tasks, methods, variants, stem, catalogue=_catalogue(catalogue))


def latency_figure(table1: str | Path, data: Sequence[str], tasks: Sequence[str], methods: Sequence[str],
                   stem: str | Path, catalogue: MethodCatalogue | None = None) -> None:
    """The latency panel beside Figure 4 (:func:`write_latency_figure`)."""
    write_latency_figure(table1, data, tasks, methods, stem, catalogue=_catalogue(catalogue))


def guaranteed_figure(calibrations: Sequence[str], tasks: Sequence[str], stem: str | Path,
                      catalogue: MethodCatalogue | None = None) -> None:
    """Cost at guaranteed quality against eps (:func:`write_guaranteed_figure`)."""
    write_guaranteed_figure(calibrations, tasks, stem, catalogue=_catalogue(catalogue))


def external_paper_sweep(table1_csv: str | Path, task: str, method: str, name: str, out: str | Path,
                         catalogue: MethodCatalogue | None = None) -> None:
    """``method``'s rows of the paper's Table 1 on ``task`` as the external sweep ``name``."""
    write_external_sweep(paper_sweep(table1_csv, task, _catalogue(catalogue)[method], name), out)


def report(sweeps: Sequence[str], data: Sequence[str], table_dir: str | Path, runtime: Sequence[str], config: dict,
           out: str | Path, latency: Sequence[str] = (), paper_dir: str | Path | None = None,
           selection: Sequence[str] = (), catalogue: MethodCatalogue | None = None) -> None:
    """REPORT.md (:func:`write_report`)."""
    write_report(sweep_paths=sweeps, data_paths=data, table_dir=table_dir, benchmark_paths=runtime, config=config, out=out,
                 latency_paths=latency, paper_dir=paper_dir, selection_paths=selection, methods=_catalogue(catalogue))
