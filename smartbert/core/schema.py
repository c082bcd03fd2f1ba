"""JSON schema from config dataclasses: the one source of a configuration's rules.

A field's type hint gives its JSON type, its :func:`smartbert.core.config.setting` metadata its
description, its range (``minimum``, ``exclusiveMinimum``...) and any further keywords (``pattern``,
``minItems``...); its default becomes the schema's, so Snakemake's ``validate`` fills it in. The
workflow's schema (``workflow/schemas/config.schema.yaml``) is generated from
:class:`smartbert.app.plan.profile.Profile` by ``make schema``; a test fails when the committed file
differs."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable
from typing import Any

from smartbert.core.config import Range
from smartbert.core.errors import SmartBertError

Schema = dict[str, Any]
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def type_schema(hint: Any) -> Schema:
    """The JSON schema of a type hint (without description, range or default)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return {}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [type_schema(arg) for arg in args]
        if all(set(option) == {"type"} for option in options):  # X | None -> type: [x, "null"]
            return {"type": [option["type"] for option in options]}
        nullable = [option for option in options if option != {"type": "null"}]
        if len(nullable) == 1 and len(options) == 2 and "type" in nullable[0]:
            return {**nullable[0], "type": [nullable[0]["type"], "null"]}
        return {"anyOf": options}
    if origin in (list, tuple) or hint in (list, tuple):
        return {"type": "array", **({"items": type_schema(args[0])} if args and args[0] is not Any else {})}
    if origin is dict or hint is dict:
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", **({"additionalProperties": type_schema(value)} if value is not Any else {})}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return object_schema(hint)
    raise TypeError(f"no JSON schema for type hint {hint!r}")


def range_schema(allowed: Range) -> Schema:
    """``minimum``/``exclusiveMinimum`` and ``maximum``/``exclusiveMaximum`` of a :class:`Range`."""
    schema: Schema = {}
    if allowed.low is not None:
        schema["exclusiveMinimum" if allowed.low_open else "minimum"] = allowed.low
    if allowed.high is not None:
        schema["exclusiveMaximum" if allowed.high_open else "maximum"] = allowed.high
    return schema


def _plain(value: Any) -> Any:
    """A default as JSON/YAML holds it (dataclasses as mappings, tuples as lists, 1.0 as 1)."""
    if dataclasses.is_dataclass(value):
        return {}  # a nested section's defaults are its own fields'
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field_schema(item: dataclasses.Field, hint: Any, defaults: bool = True) -> Schema:
    schema = type_schema(hint)
    allowed = item.metadata.get("range")
    if allowed is not None:
        target = schema  # the numbers themselves: inside a mapping's values and a list's items
        while isinstance(target.get("additionalProperties"), dict) or isinstance(target.get("items"), dict):
            target = target["additionalProperties"] if isinstance(target.get("additionalProperties"), dict) else target["items"]
        target.update(range_schema(allowed))
    schema.update(item.metadata.get("schema", {}))
    if defaults and item.metadata.get("default_in_schema", True):
        if item.default is not dataclasses.MISSING:
            schema["default"] = _plain(item.default)
        elif item.default_factory is not dataclasses.MISSING:
            schema["default"] = _plain(item.default_factory())
    if item.metadata.get("help"):
        schema["description"] = item.metadata["help"]
    return schema


def object_schema(cls: type, exclude: Iterable[str] = (), defaults: bool = True, description: str | None = None) -> Schema:
    """The schema of dataclass ``cls``: an object of its fields, unknown keys refused, those without a
    default required. ``defaults=False``: no field's default is filled in (a section whose unset keys
    must stay unset, e.g. the ``train:`` overrides)."""
    hints = typing.get_type_hints(cls)
    fields = [item for item in dataclasses.fields(cls) if item.name not in set(exclude)]
    required = [item.name for item in fields
                if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING]
    schema: Schema = {"type": "object", "additionalProperties": False}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = required
    schema["properties"] = {item.name: field_schema(item, hints[item.name], defaults) for item in fields}
    return schema


def check_finite(value: Any, where: str) -> None:
    """Every number in ``value`` (mappings and lists walked) finite: NaN and infinity are refused by
    the key that holds them (YAML's ``.nan``, ``.inf``; JSON schema's ranges let NaN through)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SmartBertError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_finite(item, f"{where}[{index}]")
