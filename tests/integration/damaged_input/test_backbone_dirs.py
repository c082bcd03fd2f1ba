"""A damaged or incomplete backbone directory is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# ---- a backbone directory that is damaged or incomplete ------------------------------------------

@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory) -> Path:
    from smartbert.modeling import backbones

    folder = tmp_path_factory.mktemp("backbone") / "bert"
    backbones.load_backbone("tiny").save_pretrained(folder)
    backbones.load_tokenizer("tiny").save_pretrained(folder)
    return folder


def _damaged_backbone(backbone_dir: Path, tmp_path: Path, name: str, data: bytes | None) -> Path:
    copy = tmp_path / "bert"
    shutil.copytree(backbone_dir, copy)
    (copy / name).unlink() if data is None else (copy / name).write_bytes(data)
    return copy


def _load_everything(path: Path) -> None:
    from smartbert.modeling import backbones

    backbones.load_config(str(path))
    backbones.load_tokenizer(str(path))
    backbones.load_backbone(str(path))


def test_the_saved_backbone_loads(backbone_dir) -> None:
    _load_everything(backbone_dir)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7, 0.95])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_a_truncated_backbone_file_is_named(backbone_dir, tmp_path, name: str, fraction: float) -> None:
    from smartbert.core.errors import DataUnavailableError

    data = (backbone_dir / name).read_bytes()
    copy = _damaged_backbone(backbone_dir, tmp_path, name, data[:int(len(data) * fraction)])
    with pytest.raises(DataUnavailableError, match=r"is damaged or incomplete"):
        _load_everything(copy)


@pytest.mark.parametrize("data", [None, b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_missing_or_foreign_backbone_file_is_named(backbone_dir, tmp_path, name: str, data) -> None:
    from smartbert.core.errors import DataUnavailableError

    with pytest.raises(DataUnavailableError, match=r"is damaged or incomplete"):
        _load_everything(_damaged_backbone(backbone_dir, tmp_path, name, data))
