"""Load a DistilBERT checkpoint as a BertModel (same computation, BERT's module names).

DistilBERT (Sanh et al., 2019) is BERT without token-type embeddings and pooler, its layers
renamed. Converting keeps one encoder code path for every method: the paper's DistilBERT
baseline (``distilbert-base-uncased``) runs through the same layered encoder, FLOPs counter and
trace as everything else. Token-type embeddings become zeros (no effect), the pooler is absent.
"""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel

_LAYER_NAMES = {
    "attention.q_lin": "attention.self.query",
    "attention.k_lin": "attention.self.key",
    "attention.v_lin": "attention.self.value",
    "attention.out_lin": "attention.output.dense",
    "sa_layer_norm": "attention.output.LayerNorm",
    "ffn.lin1": "intermediate.dense",
    "ffn.lin2": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}


def bert_config_from_distilbert(config) -> BertConfig:
    if getattr(config, "sinusoidal_pos_embds", False):
        raise ValueError("DistilBERT with sinusoidal position embeddings is not supported")
    return BertConfig(vocab_size=config.vocab_size, hidden_size=config.dim, num_hidden_layers=config.n_layers,
                      num_attention_heads=config.n_heads, intermediate_size=config.hidden_dim,
                      hidden_act=config.activation, hidden_dropout_prob=config.dropout,
                      attention_probs_dropout_prob=config.attention_dropout,
                      max_position_embeddings=config.max_position_embeddings, pad_token_id=config.pad_token_id,
                      layer_norm_eps=1e-12, attn_implementation="sdpa")  # type: ignore[call-arg]  # via **kwargs


def bert_from_distilbert(distil) -> BertModel:
    """A BertModel computing what the DistilBertModel ``distil`` computes."""
    bert = BertModel(bert_config_from_distilbert(distil.config), add_pooling_layer=False)
    source = distil.state_dict()
    target = {
        "embeddings.word_embeddings.weight": source["embeddings.word_embeddings.weight"],
        "embeddings.position_embeddings.weight": source["embeddings.position_embeddings.weight"],
        "embeddings.LayerNorm.weight": source["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": source["embeddings.LayerNorm.bias"],
        "embeddings.token_type_embeddings.weight": torch.zeros_like(bert.embeddings.token_type_embeddings.weight),
    }
    for key, value in source.items():
        if not key.startswith("transformer.layer."):
            continue
        _, _, index, rest = key.split(".", 3)
        module, _, param = rest.rpartition(".")
        target[f"encoder.layer.{index}.{_LAYER_NAMES[module]}.{param}"] = value
    missing, unexpected = bert.load_state_dict(target, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"DistilBERT conversion left weights out: missing {missing}, unexpected {unexpected}")
    return bert
