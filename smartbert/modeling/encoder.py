"""A BERT encoder run one layer at a time, which early exiting and layer skipping need."""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, S) 1/0 padding mask -> (B, 1, 1, S) additive float mask (0 keep, -inf-ish drop).

    transformers 5 rejects a raw 2D mask inside a layer. A batch without padding gets a mask of
    zeros, the same scores: asking whether it has padding would read the mask from the device, a
    host sync per forward (batch-1 inference passes no mask at all).
    """
    if attention_mask is None:
        return None
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class LayeredEncoder(nn.Module):
    """Embeddings and the transformer layers of a BERT backbone, callable layer by layer.

    BERT's pooler is not part of it: heads that want the pretrained pooler copy it themselves.
    """

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.config = bert.config
        self.embeddings = bert.embeddings
        self.layers = bert.encoder.layer

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """X^0, the output of the embedding layer (paper, section 3.1)."""
        return self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def layer(self, index: int, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """E^i(X^{i-1}) for the 0-based layer ``index``; ``mask`` from :func:`additive_mask`."""
        return self.layers[index](hidden, attention_mask=mask)
