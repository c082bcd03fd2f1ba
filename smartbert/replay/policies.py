"""Exit policies. One implementation serves both replay (over a recorded trace) and true
dynamic inference (over the layers computed so far), so the two cannot drift apart.

A policy maps per-layer logits ``[N, L, C]`` (NaN where no head was evaluated) and the mask of
evaluated heads ``[N, L]`` to ``[N, L]``: would the example exit at layer i, given layers <= i.
It must be causal (position i may only look at positions <= i): dynamic inference relies on it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from smartbert.core.errors import SmartBertError, UnknownNameError


def softmax_entropy(logits: np.ndarray) -> np.ndarray:
    """Entropy (nats) of softmax(logits) over the last axis, computed in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)  # NaN rows (no head evaluated) stay NaN
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(log_p) * log_p).sum(axis=-1)


class ExitPolicy(ABC):
    """Decides, layer by layer, whether an example leaves the network."""

    name: str
    #: thresholds a dense sweep covers, from "never exits early" to "exits as soon as it can"
    grid: tuple[float, ...] = ()
    #: evaluated heads an example needs before this policy can let it out at the most eager threshold
    min_heads: int = 1
    #: whether the decision at layer i looks at layers before i (patience does; entropy does not)
    looks_back: bool = True
    #: whether it reads the intermediate exit heads at all; one that never exits early reads the last
    #: head only, so the others are neither run (dynamic inference) nor counted (replay)
    reads_exit_heads: bool = True
    #: the threshold's name in tables ("S" for entropy rules, "patience"); None: the policy takes no
    #: threshold (static: one setting, one row)
    knob: ClassVar[str | None] = "S"
    #: Table 1's thresholds (the paper's S = 0.1, 0.3, 0.5) unless a profile's ``thresholds.<name>`` says otherwise
    table: ClassVar[tuple[float, ...]] = (0.1, 0.3, 0.5)
    #: which way the threshold makes the rule exit more, read off its inequality: ``H < S`` exits more
    #: as S grows (True), ``counter >= patience`` as the patience shrinks (False). Every registered rule's
    #: exits are nested in this order (tests/unit/replay/test_calibrate.py), which calibration relies on
    eager_when_larger: ClassVar[bool] = True

    @classmethod
    def is_static(cls) -> bool:
        return cls.knob is None

    @classmethod
    def format_threshold(cls, threshold: float | None) -> str:
        """'S=0.3', 'patience=4', or '' for a static policy (how tables and figures name a point)."""
        if cls.is_static():
            return ""
        if threshold is None:
            raise ValueError(f"{cls.__name__} names a point by its {cls.knob}; none given")
        return f"{cls.knob}={int(threshold)}" if cls.knob == "patience" else f"{cls.knob}={threshold:g}"

    @classmethod
    def table_thresholds(cls, configured: Mapping[str, Sequence[float]] | None = None) -> list[float | None]:
        """Table 1's thresholds of this policy: ``configured[name]`` (a profile's ``thresholds:``,
        keyed by policy) or :attr:`table`; ``[None]`` for a static policy (its one setting)."""
        if cls.is_static():
            return [None]
        return list((configured or {}).get(cls.name) or cls.table)

    @classmethod
    def table_middle(cls, configured: Mapping[str, Sequence[float]] | None = None) -> float | None:
        """The middle of :meth:`table_thresholds` (where per-head exits are counted; None if static)."""
        values = cls.table_thresholds(configured)
        return values[len(values) // 2]

    @classmethod
    def by_aggressiveness(cls, values: Sequence[float]) -> list[float]:
        """``values`` from the most conservative threshold (exits least) to the most aggressive, in the
        order :attr:`eager_when_larger` gives (duplicates dropped)."""
        return sorted({float(v) for v in values}, reverse=not cls.eager_when_larger)

    @abstractmethod
    def exit_mask(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        """[N, L] bool: exit at layer i (only where ``evaluated``)."""

    def exits_at_last(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        """[N] bool: ``exit_mask``'s last column, i.e. exit at the last layer computed so far
        (dynamic inference asks this at every layer; policies that look at one layer only answer
        it without recomputing the history)."""
        if self.looks_back:
            return self.exit_mask(logits, evaluated)[:, -1]
        return self.exit_mask(logits[:, -1:], evaluated[:, -1:])[:, 0]

    def heads_read(self, evaluated: np.ndarray) -> np.ndarray:
        """[N, L] bool: of the heads a trace evaluated, those this policy needs (the last always)."""
        if self.reads_exit_heads:
            return evaluated
        last_only = np.zeros_like(evaluated)
        last_only[:, -1] = evaluated[:, -1]
        return last_only

    def describe(self) -> str:
        return self.name


@dataclass
class EntropyExit(ExitPolicy):
    """Exit iff Entropy(z^i) < S (eq. 10; DeeBERT's rule as well)."""

    threshold: float
    name = "entropy"
    looks_back = False
    grid = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 1e9)

    def __post_init__(self) -> None:
        _check_threshold(self.threshold, "entropy", upper=None)

    def exit_mask(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return evaluated & (softmax_entropy(logits) < self.threshold)


@dataclass
class NormalisedEntropyExit(ExitPolicy):
    """Exit iff Entropy(z^i) / ln(C) < S: FastBERT's "speed" (Liu et al., 2020)."""

    threshold: float
    name = "normalised_entropy"
    looks_back = False
    grid = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

    def __post_init__(self) -> None:
        _check_threshold(self.threshold, "normalised entropy", upper=1.0)

    def exit_mask(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return evaluated & (softmax_entropy(logits) / math.log(logits.shape[-1]) < self.threshold)


@dataclass
class PatienceExit(ExitPolicy):
    """Exit once the prediction stayed the same for ``patience`` consecutive evaluated heads
    after the first (PABEE, Zhou et al., 2020: counter reaches t)."""

    patience: int
    name = "patience"
    grid = (1_000_000, 6, 5, 4, 3, 2, 1)
    min_heads = 2
    knob = "patience"
    table = (3, 4)
    eager_when_larger = False

    def __post_init__(self) -> None:
        if int(self.patience) != self.patience or self.patience < 1:
            raise SmartBertError(f"patience must be a positive integer, got {self.patience}")
        self.patience = int(self.patience)

    def exit_mask(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        n, num_layers = evaluated.shape
        predictions = np.where(evaluated, np.nan_to_num(logits, nan=-np.inf).argmax(-1), -1)
        out = np.zeros_like(evaluated)
        counter = np.zeros(n, dtype=int)
        previous = np.full(n, -1)
        for layer in range(num_layers):
            here = evaluated[:, layer]
            same = here & (predictions[:, layer] == previous)
            counter = np.where(same, counter + 1, np.where(here, 0, counter))
            previous = np.where(here, predictions[:, layer], previous)
            out[:, layer] = here & (counter >= self.patience)
        return out


@dataclass
class NoExit(ExitPolicy):
    """Never exit early: full depth (static models; SmartBERT's skip-only mode, Table 3)."""

    name = "none"
    looks_back = False
    reads_exit_heads = False
    grid = (0.0,)
    knob = None
    table = ()

    def exit_mask(self, logits: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
        return np.zeros_like(evaluated, dtype=bool)


POLICIES: dict[str, type[ExitPolicy]] = {
    "entropy": EntropyExit,
    "normalised_entropy": NormalisedEntropyExit,
    "patience": PatienceExit,
    "none": NoExit,
}


def policy_class(name: str) -> type[ExitPolicy]:
    """The policy registered as ``name`` (an error listing the known ones otherwise)."""
    if name not in POLICIES:
        raise UnknownNameError("exit policy", name, list(POLICIES))
    return POLICIES[name]


def make_policy(name: str, threshold: float | None = None) -> ExitPolicy:
    """A policy by name at ``threshold`` (its :attr:`ExitPolicy.knob`: S for entropy policies, the
    patience for ``patience``); a static policy takes none and ignores it."""
    cls = policy_class(name)
    if cls.is_static():
        return cls()
    if threshold is None:
        raise SmartBertError(f"exit policy {name!r} needs a threshold ({cls.knob})")
    return cls(threshold)  # type: ignore[call-arg]  # a threshold policy is a dataclass of its threshold


def check_table_thresholds(configured: Mapping[str, Sequence[float]]) -> None:
    """A profile's ``thresholds:`` names only policies that take a threshold, each value in its domain."""
    for name, values in configured.items():
        if name == "dense":
            continue
        cls = policy_class(name)
        if cls.is_static():
            raise SmartBertError(f"thresholds.{name}: exit policy {name!r} takes no threshold")
        for value in values:
            make_policy(name, value)


def _check_threshold(value: float, what: str, upper: float | None) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or value < 0 or (upper is not None and value > upper):
        bound = f"[0, {upper}]" if upper is not None else ">= 0"
        raise SmartBertError(f"{what} threshold S must be a number {bound}, got {value!r}")
