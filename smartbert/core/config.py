"""Config dataclasses from plain dicts (YAML), rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from smartbert.core.errors import SmartBertError

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
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(_matches(v, args[0]) for v in value))
    return isinstance(value, hint) if isinstance(hint, type) else True


@dataclass(frozen=True)
class Range:
    """The numbers a setting may take: ``low``/``high`` bounds (None: unbounded), each open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)) or not math.isfinite(value):  # NaN, inf
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        if self.high is None:
            return "any number" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1, low_open=True, high_open=True)      # a share strictly between 0 and 1
PROBABILITY = Range(0, 1, high_open=True)                  # dropout, warm-up share: [0, 1)
WEIGHT = Range(0, 1)                                       # a mixing weight in [0, 1]


def setting(help: str, allowed: Range | None = None, *, hashed_at_default: bool = True,
            schema: dict[str, Any] | None = None, default_in_schema: bool = True) -> dict[str, Any]:
    """A config field's metadata: its help text and the numbers it may take (checked by
    :func:`check_settings`; the JSON schema's ranges, :mod:`smartbert.core.schema`). ``hashed_at_default=False``
    marks a field added after results were published: :func:`config_hash` leaves it out while it holds
    its default, so the hashes (and the published sweeps that carry them) of every configuration that
    does not use it stay valid. ``schema``: further JSON schema keywords (``pattern``, ``minItems``...);
    ``default_in_schema=False``: the schema leaves the key unset when absent."""
    metadata: dict[str, Any] = {"help": help}
    if allowed is not None:
        metadata["range"] = allowed
    if not hashed_at_default:
        metadata["hashed_at_default"] = False
    if schema:
        metadata["schema"] = schema
    if not default_in_schema:
        metadata["default_in_schema"] = False
    return metadata


def check_settings(config: Any) -> None:
    """Every field of the dataclass ``config`` within what it means: numbers within their field's
    :class:`Range` (None, where a field allows it, means "the default"), ``Literal`` fields one of
    their values. The one range check of every config (training, every method)."""
    hints = typing.get_type_hints(type(config))
    for item in dataclasses.fields(config):
        value, hint = getattr(config, item.name), hints[item.name]
        allowed = item.metadata.get("range")
        if allowed is not None and value is not None and value not in allowed:
            meaning = f" ({item.metadata['help']})" if item.metadata.get("help") else ""
            raise SmartBertError(f"{type(config).__name__}: {item.name} must be {allowed.describe()}{meaning}, got {value!r}")
        choices = _literal_choices(hint)
        if choices is not None and value not in choices and not (value is None and _allows_none(hint)):
            raise SmartBertError(f"{type(config).__name__}: {item.name} must be one of {list(choices)}, got {value!r}")


def _literal_choices(hint: Any) -> tuple | None:
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is typing.Literal:
                return typing.get_args(arg)
    return None


def _allows_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """``cls(**values)`` with a clear error naming any key ``cls`` does not have, or a value of the
    wrong type (``learning_rate: '5e-5'`` is a string, not a number)."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
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
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as error:
        raise SmartBertError(f"config file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise SmartBertError(f"config file {path} is not valid YAML{line} ({problem}); fix it there") from None
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
            values = layer.get(section) or {}
            if not isinstance(values, dict):
                raise SmartBertError(f"{where}: `{section}:` must be a mapping of settings, got {type(values).__name__} {values!r}")
            merged[section].update(values)
    return merged


def hashed_fields(config: Any) -> dict[str, Any]:
    """The fields of dataclass ``config`` that identify it: all of them, except a field marked
    ``hashed_at_default=False`` (:func:`setting`) while it holds its default value."""
    values = dataclasses.asdict(config)
    for item in dataclasses.fields(config):
        if item.metadata.get("hashed_at_default", True) is False and getattr(config, item.name) == _default(item):
            del values[item.name]
    return values


def _default(item: dataclasses.Field) -> Any:
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def config_hash(*configs: Any) -> str:
    """A short, stable hash of dataclasses / dicts (for provenance and caches); a dataclass counts
    by :func:`hashed_fields`, so a field added later leaves the hashes made before it unchanged."""
    payload = [hashed_fields(c) if dataclasses.is_dataclass(c) else c for c in configs]
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
