"""The shared inference path with gates: skipping, exits, all/none skipped, early stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smartbert.inference.dynamic import predict_dynamic
from smartbert.inference.record import record_trace
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import ExitClassifier, SkipGate
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.policies import make_policy
from smartbert.replay.trace import replay
from tests.helpers import tiny_bert


def gated_model(gate_bias: float | None = None, seed: int = 0) -> EarlyExitModel:
    """Tiny BERT, an exit classifier at every layer and a skipping gate per layer. With
    ``gate_bias`` None the gates are random but sharp (a mix of skips); else forced."""
    torch.manual_seed(seed)
    encoder = LayeredEncoder(tiny_bert(seed))
    hidden = encoder.hidden_size
    heads = {i: ExitClassifier(hidden, 2) for i in range(1, encoder.num_layers + 1)}
    gates = [SkipGate(hidden) for _ in range(encoder.num_layers)]
    for gate in gates:
        with torch.no_grad():
            gate.out.weight.mul_(40.0)
            if gate_bias is not None:
                gate.out.bias.fill_(gate_bias)
                gate.out.weight.zero_()
    return EarlyExitModel(encoder, heads, 2, gates).eval()


def test_random_gates_skip_some_layers_and_skipped_layers_have_no_head(sentiment_dev) -> None:
    trace = record_trace(gated_model(), sentiment_dev, meta={})
    skipped = ~trace.ran
    assert 0 < skipped.mean() < 1, "the fixture should mix skipped and run layers"
    assert not (trace.evaluated[:, :-1] & skipped[:, :-1]).any()
    assert trace.evaluated[:, -1].all()
    np.testing.assert_array_equal(trace.ran, trace.gate_prob < 0.5)


@pytest.mark.parametrize("gate_bias", [None, 100.0, -100.0])
@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 1e9])
def test_replay_equals_dynamic_with_gates(gate_bias, threshold, sentiment_dev, device) -> None:
    model = gated_model(gate_bias).to(device)
    policy = make_policy("entropy", threshold)
    replayed = replay(record_trace(model, sentiment_dev, batch_size=16, meta={"has_gates": True}), policy)
    dynamic = predict_dynamic(model, sentiment_dev, policy)
    for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
        np.testing.assert_array_equal(getattr(replayed, field), getattr(dynamic, field), err_msg=field)


def test_all_layers_skipped_predicts_from_the_last_head(sentiment_dev) -> None:
    model = gated_model(gate_bias=100.0)
    trace = record_trace(model, sentiment_dev, meta={"has_gates": True})
    assert not trace.ran.any()
    result = replay(trace, make_policy("entropy", 1e9))
    assert (result.exit_layer == 4).all() and (result.layers_run == 0).all() and (result.heads == 1).all()
    assert (result.gates == 4).all()
    with torch.no_grad():  # the last head on the embeddings themselves
        from smartbert.data.encode import collate

        batch = collate(sentiment_dev, [0])
        expected = model.head(4)(model.encoder.embed(batch["input_ids"], batch["token_type_ids"]), None)
    assert result.prediction[0] == int(expected.argmax())


def test_no_layer_skipped_is_full_depth(sentiment_dev) -> None:
    trace = record_trace(gated_model(gate_bias=-100.0), sentiment_dev, meta={"has_gates": True})
    assert trace.ran.all() and trace.evaluated.all()


def test_dynamic_inference_stops_computing_at_the_exit(sentiment_dev) -> None:
    model = gated_model(gate_bias=-100.0)
    calls = []
    hooks = [layer.register_forward_hook(lambda *a, i=i: calls.append(i)) for i, layer in enumerate(model.encoder.layers)]
    predict_dynamic(model, sentiment_dev.subset([0, 1, 2]), make_policy("entropy", 1e9))
    for hook in hooks:
        hook.remove()
    assert calls == [0, 0, 0], "only layer 1 may run when every example exits there"
