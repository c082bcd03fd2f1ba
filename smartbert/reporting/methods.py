"""What reporting knows of each method, without torch: its display name and exit rule.

The registry (:mod:`smartbert.methods.registry`) needs torch; reporting must not. So the application
reads the registry once (:func:`smartbert.app.catalogue.method_catalogue`) and hands reporting a
:class:`MethodCatalogue`. A method not in it (an external baseline) keeps its registry-style name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smartbert.core.names import BERT, DEFAULT_VARIANT, SKIP_ONLY, SMARTBERT
from smartbert.replay.policies import ExitPolicy, policy_class


@dataclass(frozen=True)
class MethodInfo:
    """A registered method as tables and figures see it."""

    name: str
    display_name: str
    policy: str  # its own exit rule (smartbert.replay.policies)

    @property
    def policy_class(self) -> type[ExitPolicy]:
        return policy_class(self.policy)

    @property
    def static(self) -> bool:
        """A method whose rule takes no threshold (BERT, DistilBERT): one setting, one table row."""
        return self.policy_class.is_static()


class MethodCatalogue:
    """The registered methods by name, and the labels tables and figures give them."""

    def __init__(self, methods: Iterable[MethodInfo]) -> None:
        self._methods = {info.name: info for info in methods}

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]]) -> MethodCatalogue:
        """The catalogue from :meth:`rows` (how the workflow hands it to its jobs, read once in its own process)."""
        return cls(MethodInfo(name, display_name, policy) for name, display_name, policy in rows)

    def rows(self) -> list[list[str]]:
        """[name, display name, exit rule] per method, sorted: plain data for a Snakemake ``params``."""
        return [[info.name, info.display_name, info.policy] for _, info in sorted(self._methods.items())]

    def __contains__(self, method: object) -> bool:
        return method in self._methods

    def __getitem__(self, method: str) -> MethodInfo:
        return self._methods[method]

    def names(self) -> list[str]:
        return sorted(self._methods)

    def display_name(self, method: str) -> str:
        return self._methods[method].display_name if method in self._methods else method

    def is_static(self, method: str) -> bool:
        return method in self._methods and self._methods[method].static

    def model_label(self, method: str, variant: str) -> str:
        """'SmartBERT', 'SmartBERT [nocontrast]': a model in tables that list models, not thresholds."""
        return self.display_name(method) + ("" if variant == DEFAULT_VARIANT else f" [{variant}]")

    def row_label(self, method: str, variant: str, policy: str, threshold: float, label: str | None = None) -> str:
        """'BERT', 'SmartBERT (S=0.3)', 'SmartBERT skip-only', 'PABEE (patience=4)', 'SmartBERT [soft] (S=0.1)';
        ``label`` (the method's name for this model's config, from the sweep) replaces the method's name."""
        name = label if isinstance(label, str) and label else self.display_name(method)
        if variant == SKIP_ONLY:
            return f"{name} skip-only"
        name += "" if variant == DEFAULT_VARIANT else f" [{variant}]"
        point = policy_class(policy).format_threshold(threshold)
        return f"{name} ({point})" if point else name

    def order(self, method: str) -> tuple[int, str]:
        """Static methods first (BERT leading), early-exit baselines next, SmartBERT last."""
        if method == BERT:
            return (0, method)
        if method == SMARTBERT:
            return (3, method)
        return (1 if self.is_static(method) else 2, method)
