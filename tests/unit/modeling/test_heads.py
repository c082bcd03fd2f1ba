"""The narrow self-attention of the exit classifiers and gates (section 3.2)."""

from __future__ import annotations

import math

import torch

from smartbert.modeling.heads import ExitClassifier, NarrowSelfAttention


def test_fused_qkv_is_multi_head_attention_with_three_projections() -> None:
    torch.manual_seed(0)
    attention = NarrowSelfAttention(8, 2).eval()
    x = torch.randn(2, 5, 8)
    mask = torch.zeros(2, 1, 1, 5)
    mask[1, ..., 3:] = torch.finfo(torch.float32).min  # second example: 2 padding tokens
    q, k, v = attention.qkv(x).split(8, dim=-1)
    expected = torch.empty(2, 5, 8)
    for head in range(2):
        cols = slice(4 * head, 4 * head + 4)
        scores = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(4) + mask[:, 0]
        expected[..., cols] = scores.softmax(-1) @ v[..., cols]
    torch.testing.assert_close(attention(x, mask), expected)


def test_models_saved_with_separate_query_key_value_load_into_the_fused_layout() -> None:
    torch.manual_seed(1)
    classifier = ExitClassifier(16, 3).eval()
    old_layout = {}
    for key, value in classifier.state_dict().items():
        if ".qkv." in key:
            for name, part in zip(("query", "key", "value"), value.chunk(3)):
                old_layout[key.replace("qkv", name)] = part.clone()
        else:
            old_layout[key] = value.clone()
    torch.manual_seed(2)
    loaded = ExitClassifier(16, 3).eval()
    loaded.load_state_dict(old_layout)
    x = torch.randn(2, 4, 16)
    assert torch.equal(loaded(x, None), classifier(x, None))


def test_fused_initialisation_draws_the_same_random_numbers_as_three_layers() -> None:
    """Seeds give the same model as before the fusion (published runs stay reproducible)."""
    torch.manual_seed(3)
    fused = NarrowSelfAttention(8, 2)
    after = torch.rand(1)
    torch.manual_seed(3)
    separate = [torch.nn.Linear(8, 8) for _ in range(3)]
    assert torch.equal(fused.qkv.weight, torch.cat([layer.weight for layer in separate]))
    assert torch.equal(fused.qkv.bias, torch.cat([layer.bias for layer in separate]))
    assert torch.equal(after, torch.rand(1))


def test_forward_reads_the_first_token_of_the_full_token_states() -> None:
    """Inference computes only the [CLS] row after the attention; training's H^i (eq. 5) keeps every token."""
    torch.manual_seed(4)
    classifier = ExitClassifier(16, 2).eval()
    x = torch.randn(3, 6, 16)
    mask = torch.zeros(3, 1, 1, 6)
    mask[2, ..., 4:] = torch.finfo(torch.float32).min
    torch.testing.assert_close(classifier(x, mask), classifier.classify(classifier.token_states(x, mask)), rtol=0, atol=1e-6)


def test_a_reused_model_saved_with_separate_qkv_keeps_its_attention_and_its_backbone(tmp_path) -> None:
    """load_reused fuses only the narrow attentions' Q/K/V; BERT's own query/key/value stay as they are."""
    from safetensors.torch import save_file

    from smartbert.methods.registry import get_method
    from smartbert.training.pipeline import load_reused
    from tests.helpers import tiny_bert

    method = get_method("smartbert")
    torch.manual_seed(5)
    source = method.build(tiny_bert(5), 2, method.config_class())
    old_layout = {}
    for key, value in source.state_dict().items():
        if key.endswith((".qkv.weight", ".qkv.bias")):
            for name, part in zip(("query", "key", "value"), value.chunk(3)):
                old_layout[key.replace(".qkv.", f".{name}.")] = part.clone()
        else:
            old_layout[key] = value.clone()
    save_file(old_layout, str(tmp_path / "model.safetensors"))
    target = method.build(tiny_bert(6), 2, method.config_class())
    load_reused(target, tmp_path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
