"""Backbones: DistilBERT checkpoints run as an equivalent BertModel; bad names are explained."""

from __future__ import annotations

import pytest
import torch
from transformers import DistilBertConfig, DistilBertModel

from smartbert.core.errors import DataUnavailableError
from smartbert.modeling import backbones
from smartbert.modeling.distil_convert import bert_from_distilbert


def test_converted_distilbert_computes_the_same_hidden_states() -> None:
    torch.manual_seed(0)
    distil = DistilBertModel(DistilBertConfig(vocab_size=100, dim=32, n_layers=3, n_heads=2, hidden_dim=64,
                                              max_position_embeddings=64)).eval()
    bert = bert_from_distilbert(distil).eval()
    ids = torch.randint(1, 100, (2, 11))
    mask = torch.ones(2, 11, dtype=torch.long)
    mask[1, 8:] = 0
    with torch.no_grad():
        expected = distil(input_ids=ids, attention_mask=mask).last_hidden_state
        got = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    torch.testing.assert_close(got[mask.bool()], expected[mask.bool()], rtol=1e-5, atol=1e-5)


def test_saved_distilbert_directory_loads_as_a_backbone(tmp_path) -> None:
    distil = DistilBertModel(DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64))
    distil.save_pretrained(tmp_path)
    bert = backbones.load_backbone(str(tmp_path))
    assert bert.config.num_hidden_layers == 2 and backbones.backbone_shape(str(tmp_path)).ffn == 64


def test_unreachable_backbone_names_the_offline_choices(monkeypatch) -> None:
    with pytest.raises(DataUnavailableError, match="--backbone minilm-l6"):
        backbones.load_backbone("no-such-org/no-such-model")
