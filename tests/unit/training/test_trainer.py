"""The shared trainer: non-finite losses stop with the step and terms named; same seed, same
weights; different seeds differ; the best epoch is the one restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smartbert.data.encode import EncodedSplit
from smartbert.data.tasks import get_task
from smartbert.inference.record import record_trace
from smartbert.methods.registry import Stage, get_method
from smartbert.training.trainer import (
    NonFiniteLossError,
    TrainConfig,
    linear_warmup,
    train_stage,
)
from tests.helpers import tiny_bert

TASK = get_task("synthetic-sentiment")


def train_bert(data, seed: int, epochs: int = 1, selection=None, learning_rate: float = 1e-3):
    method = get_method("bert")
    torch.manual_seed(seed)
    model = method.build(tiny_bert(seed), 2, method.config_class())
    report = train_stage(model, method.stages(method.config_class())[0], data,
                         selection if selection is not None else data.subset(range(16)), TASK,
                         TrainConfig(batch_size=16, epochs=epochs, learning_rate=learning_rate, seed=seed), progress=False)
    return model, report


def flipped(data: EncodedSplit) -> EncodedSplit:
    """``data`` with every label flipped: the better a model learns the task, the worse it scores
    here, so the best epoch on it is not the last (what restoring the best epoch needs to mean anything)."""
    return EncodedSplit(data.input_ids, data.token_type_ids, [1 - label for label in data.labels])


def test_nan_loss_names_step_and_terms(sentiment_dev) -> None:
    method = get_method("bert")
    model = method.build(tiny_bert(0), 2, method.config_class())

    def exploding(model, batch, epoch):
        ce = torch.tensor(0.7, requires_grad=True)
        reg = torch.tensor(float("inf"))
        return ce + reg, {"ce": ce, "skip_reg": reg}

    stage = Stage("stage1", lambda m: m.parameters(), exploding)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 0: non-finite loss inf \(terms: ce=0\.7, skip_reg=inf\)"):
        train_stage(model, stage, sentiment_dev, sentiment_dev, TASK, TrainConfig(batch_size=16), progress=False)


def test_same_seed_same_weights_and_trace_different_seed_differs(sentiment_dev) -> None:
    first, _ = train_bert(sentiment_dev, seed=5)
    again, _ = train_bert(sentiment_dev, seed=5)
    other, _ = train_bert(sentiment_dev, seed=6)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())
    a, b = record_trace(first, sentiment_dev, meta={}), record_trace(again, sentiment_dev, meta={})
    np.testing.assert_array_equal(a.logits, b.logits)


def test_best_epoch_is_restored(sentiment_train, sentiment_dev) -> None:
    """On a selection split where the best epoch is not the last (labels flipped), the model ends with
    the best epoch's weights: it scores the best metric there, not the last epoch's."""
    from smartbert.methods.registry import final_logits
    from smartbert.training.trainer import predict_logits, score

    selection = flipped(sentiment_dev)
    model, report = train_bert(sentiment_train.subset(range(128)), seed=1, epochs=2, selection=selection, learning_rate=3e-3)
    metrics = [e["metric"] for e in report.epochs]
    assert report.best_metric == max(metrics) and report.best_epoch == metrics.index(max(metrics)) + 1
    assert metrics[-1] < report.best_metric, f"the best epoch is the last: {metrics}"
    restored = score(TASK, predict_logits(model, selection, final_logits, 16), selection.labels)["metric"]
    assert restored == report.best_metric


def test_linear_warmup_schedule() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = linear_warmup(optimizer, warmup_steps=2, total_steps=6)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])


def test_the_log_shows_every_epoch_and_a_summary(sentiment_dev, caplog) -> None:
    """A training log a person can follow (the workflow runs `smartbert -q`: no bars, these lines
    stay): per epoch stage, loss, selection metric, seconds, examples/s; then one summary line."""
    import logging

    with caplog.at_level(logging.INFO, logger="smartbert.train"):
        train_bert(sentiment_dev, seed=1, epochs=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "smartbert.train"]
    epochs = [line for line in lines if line.startswith("finetune epoch ")]
    assert len(epochs) == 2
    for line in epochs:
        assert line.startswith("finetune epoch ") and "loss " in line and "accuracy on dev" in line
        assert " s (" in line and "train examples/s on cpu" in line
    assert lines[-1].startswith("finetune done: best epoch ") and "accuracy on dev" in lines[-1]


@pytest.mark.cli
def test_quiet_cli_keeps_the_log_lines(tmp_path, caplog) -> None:
    from smartbert.app.cli import main

    assert main(["-q", "train", "--task", "synthetic-sentiment", "--method", "bert", "--backbone", "tiny", "--epochs", "1",
                 "--max-train-examples", "32", "--data-source", "synthetic", "--no-resume", "--out", str(tmp_path / "m")]) == 0
    assert any(r.getMessage().startswith("finetune epoch 1/1: loss") for r in caplog.records)


def test_a_stage_keeps_its_last_epoch_when_asked(sentiment_train, sentiment_dev) -> None:
    """keep="last" (official SmartBERT stage 2, FastBERT distillation): the final weights stay, whatever
    epoch scored best; keep="best" restores the best one (the default). The selection split (labels
    flipped) makes an earlier epoch the best, so the two differ."""
    import dataclasses

    method = get_method("bert")
    stage = method.stages(method.config_class())[0]
    states = {}
    for keep in ("best", "last"):
        torch.manual_seed(1)
        model = method.build(tiny_bert(1), 2, method.config_class())
        report = train_stage(model, dataclasses.replace(stage, keep=keep), sentiment_train.subset(range(128)), flipped(sentiment_dev),
                             TASK, TrainConfig(batch_size=16, epochs=2, learning_rate=3e-3, seed=1), progress=False)
        states[keep] = ({k: v.clone() for k, v in model.state_dict().items()}, report)
    (best, best_report), (last, last_report) = states["best"], states["last"]
    assert last_report.best_epoch == 2 and last_report.best_metric == last_report.epochs[-1]["metric"]
    assert [e["metric"] for e in best_report.epochs] == [e["metric"] for e in last_report.epochs]  # same training
    metrics = [e["metric"] for e in best_report.epochs]
    assert best_report.best_epoch == 1 and metrics[1] < metrics[0], f"the best epoch is the last ({metrics}): nothing to tell apart"
    assert any(not torch.equal(best[k], last[k]) for k in best)
    with pytest.raises(ValueError, match="keep must be 'best' or 'last'"):
        dataclasses.replace(stage, keep="first")


def test_frozen_dropout_keeps_frozen_modules_in_train_mode() -> None:
    from smartbert.training.trainer import freeze_to

    method = get_method("bert")
    model = method.build(tiny_bert(0), 2, method.config_class())
    head = list(model.head(model.num_layers).parameters())
    freeze_to(model, head)
    assert not model.encoder.training and model.head(model.num_layers).training
    freeze_to(model, head, frozen_dropout=True)
    assert model.encoder.training and all(m.training for m in model.modules())
