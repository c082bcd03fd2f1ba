"""Comparing two implementations term by term: scalar losses, gradients, inference decisions.

Every comparison becomes a :class:`Check` (what, ours, theirs, the error measured, the tolerance,
whether it passes), so the harness's table and the unit test read the same rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


@dataclass(frozen=True)
class Tolerance:
    """Relative tolerances per quantity for one precision (issue 33: fp32, 1e-5 losses, 1e-4 gradients).

    ``logits``/``gate``: absolute, for inference outputs computed at different padding (the official
    loop pads to 128, ours runs unpadded), where only float rounding may differ.
    """

    loss: float = 1e-5
    grad: float = 1e-4
    logits: float = 1e-4
    gate: float = 1e-5


FP32 = Tolerance()


@dataclass
class Check:
    """One compared quantity. ``error`` is relative for losses and gradients, absolute for logits and
    gate probabilities, a count of disagreeing examples for decisions."""

    group: str
    name: str
    ours: float | None
    theirs: float | None
    error: float
    tolerance: float
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)

    def row(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def relative_error(ours: float, theirs: float) -> float:
    """|a - b| / max(|b|, 1e-12): how far a scalar loss term is from the reference."""
    return abs(ours - theirs) / max(abs(theirs), 1e-12)


def compare_scalar(group: str, name: str, ours: torch.Tensor | float, theirs: torch.Tensor | float,
                   tolerance: float) -> Check:
    """A loss term of each side (float64 arithmetic on the two float32 values)."""
    a, b = float(ours), float(theirs)
    return Check(group, name, a, b, relative_error(a, b), tolerance)


def tensor_error(ours: torch.Tensor, theirs: torch.Tensor, floor: float = 0.0) -> float:
    """Max |a - b| / max(max |b|, floor) over a tensor: relative to the tensor's scale, so entries that
    are zero up to rounding do not inflate it; ``floor`` keeps a tensor whose exact value is zero (a
    key bias's gradient: softmax ignores a shift common to a query's scores) from being judged on
    rounding noise alone. 0 when both are exactly zero."""
    a, b = ours.detach().double(), theirs.detach().double()
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(b.abs().max()), floor) if b.numel() else floor
    diff = float((a - b).abs().max()) if b.numel() else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


#: a gradient tensor is judged relative to its own largest entry, or to this share of the largest
#: gradient entry of the whole model for that loss, whichever is larger: with the 1e-4 tolerance a
#: tensor whose own gradient is tiny passes while it is within 1e-7 of that largest entry (float32's
#: rounding), as attention key biases are (their gradient is exactly zero in exact arithmetic:
#: softmax ignores a shift common to a query's scores; PABEE on MiniLM-L6 measured their difference
#: at 1.4e-9 of the largest entry, pure rounding noise)
GRADIENT_FLOOR = 1e-3


def compare_gradients(group: str, ours: dict[str, torch.Tensor | None], theirs: dict[str, torch.Tensor | None],
                      tolerance: float) -> list[Check]:
    """One check per mapped parameter: ``ours`` and ``theirs`` keyed alike (our names), a missing
    gradient (None) counting as zeros; a parameter with a gradient on one side only fails. Each is
    relative to its own scale with a floor of :data:`GRADIENT_FLOOR` x the largest gradient entry."""
    checks = []
    largest = max((float(g.abs().max()) for g in theirs.values() if g is not None and g.numel()), default=0.0)
    floor = GRADIENT_FLOOR * largest
    for name in ours:
        a, b = ours[name], theirs.get(name)
        if a is None and b is None:
            checks.append(Check(group, name, 0.0, 0.0, 0.0, tolerance, {"note": "no gradient on either side"}))
            continue
        if a is None or b is None:
            present = a if a is not None else b
            assert present is not None
            error = 0.0 if float(present.abs().max()) == 0.0 else float("inf")
            checks.append(Check(group, name, None if a is None else float(a.norm()), None if b is None else float(b.norm()),
                                error, tolerance, {"note": "gradient on one side only"}))
            continue
        checks.append(Check(group, name, float(a.norm()), float(b.norm()), tensor_error(a, b, floor), tolerance))
    return checks


def summarise_gradients(checks: list[Check]) -> Check:
    """The worst of a group's per-parameter gradient checks, as one row (the table's)."""
    worst = max(checks, key=lambda c: c.error)
    return Check(worst.group, f"{len(checks)} parameters (worst: {worst.name})", worst.ours, worst.theirs, worst.error,
                 worst.tolerance, {"parameters": len(checks), "failing": [c.name for c in checks if not c.ok]})


def compare_decisions(group: str, name: str, ours: list, theirs: list, extra: dict | None = None) -> Check:
    """Per-example decisions (skip lists, exit layers, predictions): the count that disagree, tolerance 0."""
    if len(ours) != len(theirs):
        return Check(group, name, len(ours), len(theirs), float("inf"), 0.0, extra or {})
    wrong = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    return Check(group, name, float(len(ours) - len(wrong)), float(len(theirs)), float(len(wrong)), 0.0,
                 {**(extra or {}), "examples": len(ours), "disagreeing": wrong[:10]})


def compare_max_abs(group: str, name: str, pairs: list[tuple[torch.Tensor, torch.Tensor]], tolerance: float,
                    extra: dict | None = None) -> Check:
    """Largest absolute difference over many pairs of tensors (logits, gate probabilities)."""
    errors = [float((a.double() - b.double()).abs().max()) if a.shape == b.shape else float("inf") for a, b in pairs]
    error = max(errors, default=0.0)
    return Check(group, name, None, None, error, tolerance, {**(extra or {}), "pairs": len(pairs)})
