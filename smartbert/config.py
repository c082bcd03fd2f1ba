"""Config dataclasses from plain dicts (YAML), rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from smartbert.errors import SmartBertError

T = TypeVar("T")


def _matches(value: Any, hint: Any) -> bool:
    """Does ``value`` (from YAML/JSON) fit the type hint (bool, int, float, str, Literal, Optional, lists)?"""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(_matches(v, args[0]) for v in value))
    return isinstance(value, hint) if isinstance(hint, type) else True


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """``cls(**values)`` with a clear error naming any key ``cls`` does not have, or a value of the
    wrong type (``learning_rate: '5e-5'`` is a string, not a number)."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SmartBertError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if not _matches(value, hints[name]):
            hint = hints[name]
            shown = (f"one of {list(typing.get_args(hint))}" if typing.get_origin(hint) is typing.Literal
                     else getattr(hint, "__name__", None) or str(hint).replace("typing.", ""))
            raise SmartBertError(f"{where}: {name} must be {shown}, got {value!r} ({type(value).__name__})")
    return cls(**values)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SmartBertError(f"config file {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SmartBertError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_inline_or_file(text: str) -> dict[str, Any]:
    """A mapping given inline as JSON (``'{"train": {"epochs": 3}}'``, as the workflow passes it) or
    a YAML file's path. (JSON, not YAML, inline: YAML 1.1 reads JSON's ``5e-05`` as a string.)"""
    if not text.lstrip().startswith("{"):
        return load_yaml(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SmartBertError(f"inline config is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise SmartBertError(f"inline config must be a mapping, got {text!r}")
    return data


#: the sections of a training's config layers: the shared training settings and the method's
SECTIONS = ("train", "method")


def merge_layers(layers: typing.Iterable[tuple[str, dict[str, Any] | None]]) -> dict[str, dict[str, Any]]:
    """The one merge of a training's config layers, in order, later keys winning within a section:
    the workflow's (profile ``train:``, the method's ``train:`` and ``config:``, a variant's ``config:``,
    the task's data budget) and the CLI's (``--config`` files and inline mappings, the selected point,
    flags). Each layer is ``(where it came from, {"train": {...}, "method": {...}})``; an unknown
    section is named with its source."""
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for where, layer in layers:
        layer = layer or {}
        unknown = sorted(set(layer) - set(SECTIONS))
        if unknown:
            raise SmartBertError(f"unknown top-level key(s) {unknown} in {where}; known: {list(SECTIONS)}")
        for section in SECTIONS:
            merged[section].update(layer.get(section) or {})
    return merged


def config_hash(*configs: Any) -> str:
    """A short, stable hash of dataclasses / dicts (for provenance and caches)."""
    payload = [dataclasses.asdict(c) if dataclasses.is_dataclass(c) else c for c in configs]
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
