"""Save and load a trained model as a self-describing directory, written atomically.

``DIR/model.safetensors`` (weights), ``DIR/smartbert.json`` (method and its config, task and
labels, backbone name and config, training config and per-stage reports), ``DIR/provenance.json``,
``DIR/tokenizer/``. Loading needs nothing else: no hub, no original backbone files.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertModel

from smartbert.core.config import from_dict
from smartbert.core.errors import CheckpointError, SmartBertError, one_line
from smartbert.core.io import atomic_path
from smartbert.methods.registry import Method, MethodConfig, get_method
from smartbert.modeling.model import EarlyExitModel

FORMAT_VERSION = 1
META_FILE, WEIGHTS_FILE, PROVENANCE_FILE, TOKENIZER_DIR = "smartbert.json", "model.safetensors", "provenance.json", "tokenizer"


@dataclass(frozen=True)
class ModelMeta:
    """What ``smartbert.json`` says of a trained model: the fields loading and checking read, typed,
    and the training's report (dev metrics, sizes, seconds, stages...) as it was written."""

    method: str
    method_config: dict[str, Any]
    backbone: str
    backbone_config: dict[str, Any]
    num_labels: int
    task: str
    labels: list[str]
    train_config: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def max_seq_len(self) -> int:
        return int(self.train_config["max_seq_len"])

    @property
    def seed(self) -> int:
        return int(self.train_config["seed"])

    @classmethod
    def from_document(cls, document: dict[str, Any], path: Path) -> ModelMeta:
        """The typed fields of ``document`` (each of the type it must have, or a CheckpointError naming
        ``path``) and the rest as the training's report."""
        known = {f.name for f in dataclasses.fields(cls)} - {"report"}
        try:
            typed = from_dict(cls, {k: document[k] for k in known}, str(path))
        except SmartBertError as error:
            raise CheckpointError(f"{error}: a damaged or foreign model description; retrain the model") from None
        return dataclasses.replace(typed, report={k: v for k, v in document.items() if k not in known and k != "format_version"})


#: what loading, checking and tables read from ``smartbert.json``: the fields of :class:`ModelMeta`
REQUIRED_META = tuple(f.name for f in dataclasses.fields(ModelMeta) if f.name != "report")


@dataclass
class LoadedModel:
    model: EarlyExitModel
    method: Method
    method_config: MethodConfig
    meta: ModelMeta
    tokenizer: Any


def save_model(directory: str | Path, model: EarlyExitModel, method: Method, method_config: MethodConfig,
               backbone_name: str, backbone_config: BertConfig, tokenizer: Any, meta: dict[str, Any],
               provenance: dict[str, Any]) -> Path:
    """Write the model directory (replacing an old one only once the new one is complete)."""
    directory = Path(directory)
    document = {
        "format_version": FORMAT_VERSION,
        "method": method.name,
        "method_config": dataclasses.asdict(method_config),
        "backbone": backbone_name,
        "backbone_config": backbone_config.to_dict(),
        "num_labels": model.num_labels,
        **meta,
    }
    try:
        with atomic_path(directory) as tmp:
            tmp.mkdir()
            state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE))
            (tmp / META_FILE).write_text(json.dumps(document, indent=2, default=str))
            (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, default=str))
            tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
    except OSError as error:  # disk full, permissions: the previous model (if any) is untouched
        raise CheckpointError(f"could not write the model to {directory} ({error.strerror or error}); whatever was there "
                              "before is unchanged: free space (or fix the folder) and rerun") from None
    return directory


def read_meta(directory: str | Path) -> ModelMeta:
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"{directory} is not a trained model directory (needs {META_FILE} and {WEIGHTS_FILE}); "
            f"train one with `smartbert train ... --out {directory}`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{meta_path} is damaged (not JSON: {error}); retrain the model "
                              f"(`smartbert train ... --out {directory}`)") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{meta_path} is not a model description (a JSON object); retrain the model")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{meta_path} has format_version {version!r}; this suite reads version {FORMAT_VERSION}: "
                              "retrain the model with this version of the suite")
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise CheckpointError(f"{meta_path} lacks {missing}: an incomplete or foreign model directory; retrain the model")
    return ModelMeta.from_document(meta, meta_path)


def read_provenance(directory: str | Path) -> dict[str, Any]:
    """The model's ``provenance.json`` (commit, versions, seed, config and experiment hashes); {} if absent."""
    path = Path(directory) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_model(directory: str | Path, expect_method: str | None = None, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the model from its directory alone, in eval mode on ``device``."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    meta = read_meta(directory)
    if expect_method is not None and meta.method != expect_method:
        raise CheckpointError(f"{directory} holds a {meta.method!r} model, not {expect_method!r}")
    method = get_method(meta.method)
    config = from_dict(method.config_class, meta.method_config, f"{directory / META_FILE} method_config")
    backbone_config = BertConfig.from_dict(meta.backbone_config)
    backbone_config._attn_implementation = "sdpa"
    model = method.build(BertModel(backbone_config, add_pooling_layer=False), meta.num_labels, config)
    try:
        weights = load_file(str(directory / WEIGHTS_FILE))
    except Exception as error:  # safetensors raises its own error type for a truncated or foreign file
        raise CheckpointError(f"{directory / WEIGHTS_FILE} is damaged or not a safetensors file ({one_line(error)}); "
                              f"retrain the model (`smartbert train ... --out {directory}`)") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{directory}: weights do not fit a {meta.method} model on this backbone: {error}") from error
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(directory / TOKENIZER_DIR))
    return LoadedModel(model, method, config, meta, tokenizer)
