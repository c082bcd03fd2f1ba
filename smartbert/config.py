"""Config dataclasses from plain dicts (YAML), rejecting unknown keys by name."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

from smartbert.errors import SmartBertError

T = TypeVar("T")


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """``cls(**values)`` with a clear error naming any key ``cls`` does not have."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SmartBertError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")
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
    """A mapping given inline (``'{"train": {"epochs": 3}}'``, as the workflow passes it) or a YAML file's path."""
    if not text.lstrip().startswith("{"):
        return load_yaml(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SmartBertError(f"inline config is not valid YAML/JSON: {error}") from error
    if not isinstance(data, dict):
        raise SmartBertError(f"inline config must be a mapping, got {text!r}")
    return data


def config_hash(*configs: Any) -> str:
    """A short, stable hash of dataclasses / dicts (for provenance and caches)."""
    payload = [dataclasses.asdict(c) if dataclasses.is_dataclass(c) else c for c in configs]
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
