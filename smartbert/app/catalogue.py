"""The registry's methods as reporting sees them (:class:`smartbert.reporting.methods.MethodCatalogue`)."""

from __future__ import annotations

from smartbert.methods.registry import get_method, method_names
from smartbert.reporting.methods import MethodCatalogue, MethodInfo


def method_catalogue() -> MethodCatalogue:
    """Every registered method (built-in, ``baselines/`` and entry-point plugins)."""
    return MethodCatalogue(MethodInfo(name, get_method(name).display_name, get_method(name).default_policy)
                           for name in method_names())
