"""A parameter mapping between our model and another implementation of the same method.

Each of our parameters is linked to one or more of theirs:

- ``copy``: one parameter, same shape;
- ``tied``: ours is one module where theirs has one per layer (e.g. a shared projection head against
  the official code's per-layer heads); the value is copied into each, and our gradient equals the
  sum of theirs;
- ``qkv``: our fused ``Linear(w, 3w)`` of a narrow self-attention against separate query, key and
  value layers (rows stacked in that order).

Parameters of theirs that no link reaches must be declared ``unused`` with a reason (e.g. modules the
official code creates but never calls). :func:`check_mapping` verifies counts and shapes before any
value is copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

LinkKind = Literal["copy", "tied", "qkv"]


@dataclass(frozen=True)
class Link:
    ours: str
    theirs: tuple[str, ...]
    kind: LinkKind = "copy"


@dataclass
class Mapping:
    links: list[Link]
    unused: dict[str, str] = field(default_factory=dict)  # their parameter -> why no link reaches it


class MappingError(AssertionError):
    """The mapping does not cover both models exactly (a name missing, used twice, or a shape wrong)."""


def check_mapping(mapping: Mapping, ours: nn.Module, theirs: nn.Module) -> dict:
    """Every parameter of ours linked exactly once, every parameter of theirs linked once or declared
    unused, shapes consistent per link kind. Returns the counts (raises :class:`MappingError`)."""
    our_params, their_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    problems: list[str] = []
    seen_ours = [link.ours for link in mapping.links]
    seen_theirs = [name for link in mapping.links for name in link.theirs]
    problems += [f"ours {n} linked {seen_ours.count(n)} times" for n in set(seen_ours) if seen_ours.count(n) > 1]
    problems += [f"theirs {n} linked {seen_theirs.count(n)} times" for n in set(seen_theirs) if seen_theirs.count(n) > 1]
    problems += [f"ours {n} not linked" for n in our_params if n not in seen_ours]
    problems += [f"theirs {n} neither linked nor declared unused" for n in their_params
                 if n not in seen_theirs and n not in mapping.unused]
    problems += [f"unknown name {n}" for n in [*seen_ours] if n not in our_params]
    problems += [f"unknown name {n}" for n in [*seen_theirs, *mapping.unused] if n not in their_params]
    if not problems:
        problems += [p for link in mapping.links if (p := _shape_problem(link, our_params, their_params))]
    if problems:
        raise MappingError("; ".join(sorted(problems)[:20]))
    linked = {n for link in mapping.links for n in link.theirs}
    return {
        "ours_parameters": sum(p.numel() for p in our_params.values()),
        "ours_tensors": len(our_params),
        "theirs_parameters": sum(p.numel() for p in their_params.values()),
        "theirs_tensors": len(their_params),
        "theirs_linked_parameters": sum(their_params[n].numel() for n in linked),
        "theirs_unused_parameters": sum(their_params[n].numel() for n in mapping.unused),
        "tied_copies": sum(len(link.theirs) - 1 for link in mapping.links if link.kind == "tied"),
        "links_by_kind": {kind: sum(link.kind == kind for link in mapping.links) for kind in ("copy", "tied", "qkv")},
        "unused": dict(mapping.unused),
    }


def _shape_problem(link: Link, ours: dict[str, nn.Parameter], theirs: dict[str, nn.Parameter]) -> str | None:
    mine, other = ours[link.ours].shape, [theirs[n].shape for n in link.theirs]
    if link.kind == "qkv":
        if len(other) != 3 or len(set(other)) != 1 or mine != torch.Size([3 * other[0][0], *other[0][1:]]):
            return f"qkv {link.ours} {tuple(mine)} against {[tuple(s) for s in other]}"
        return None
    if (link.kind == "copy" and len(other) != 1) or any(s != mine for s in other):
        return f"{link.kind} {link.ours} {tuple(mine)} against {[tuple(s) for s in other]}"
    return None


@torch.no_grad()
def copy_weights(mapping: Mapping, ours: nn.Module, theirs: nn.Module) -> None:
    """Give ``theirs`` our values through every link."""
    our_params, their_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for link in mapping.links:
        source = our_params[link.ours]
        parts = source.chunk(3, dim=0) if link.kind == "qkv" else [source] * len(link.theirs)
        for name, part in zip(link.theirs, parts):
            their_params[name].copy_(part)


def their_gradients(mapping: Mapping, theirs: nn.Module) -> dict[str, torch.Tensor | None]:
    """Their gradients expressed on our parameters (keyed by our names): tied copies summed, q, k, v
    stacked; None where none of the linked parameters got a gradient."""
    params = dict(theirs.named_parameters())
    out: dict[str, torch.Tensor | None] = {}
    for link in mapping.links:
        grads = [params[n].grad for n in link.theirs]
        if all(g is None for g in grads):
            out[link.ours] = None
            continue
        filled = [g if g is not None else torch.zeros_like(params[n]) for g, n in zip(grads, link.theirs)]
        out[link.ours] = torch.cat(filled, dim=0) if link.kind == "qkv" else torch.stack(filled).sum(0)
    return out


def our_gradients(ours: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in ours.named_parameters()}


def identity_mapping(model: nn.Module) -> Mapping:
    """Each parameter to the parameter of the same name (two copies of one model: the unit test)."""
    return Mapping([Link(name, (name,)) for name, _ in model.named_parameters()])
