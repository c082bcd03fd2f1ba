"""train.compile (issue 32): the stage's loss goes through torch.compile once per stage, batches are
bucketed to repeated shapes, and compile without buckets is refused before any work. Compiling for
real takes minutes on a CPU: benchmarks/compile_smoke.py trains both ways and compares them."""

from __future__ import annotations

import pytest
import torch

from smartbert.core.errors import SmartBertError
from smartbert.data.tasks import get_task
from smartbert.methods.registry import get_method
from smartbert.training.trainer import TrainConfig, train_stage
from tests.helpers import tiny_bert

TASK = get_task("synthetic-sentiment")


def test_compile_without_length_buckets_is_refused_with_the_fix() -> None:
    with pytest.raises(SmartBertError, match=r"train.compile needs repeated batch shapes: set train.pad_to_multiple_of"):
        TrainConfig(compile=True)
    assert TrainConfig(compile=True, pad_to_multiple_of=16).compile


def test_each_stage_trains_through_its_compiled_loss_on_bucketed_batches(sentiment_dev, monkeypatch) -> None:
    compiled, widths = [], []

    def fake_compile(loss):  # records what was compiled; runs it eagerly, seeing every batch it gets
        compiled.append(loss)

        def run(model, batch, epoch):
            widths.append(batch["input_ids"].shape[1])
            return loss(model, batch, epoch)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    method = get_method("smartbert")
    config = method.config_class(stage1_epochs=1, soft_epochs=1, stage2_epochs=1)
    model = method.build(tiny_bert(0), 2, config)
    stages = [s for s in method.stages(config) if not s.reuse]
    train_config = TrainConfig(batch_size=16, epochs=1, compile=True, pad_to_multiple_of=16)
    for stage in stages:
        train_stage(model, stage, sentiment_dev, sentiment_dev.subset(range(16)), TASK, train_config, progress=False)
    assert compiled == [stage.loss for stage in stages]
    assert len(widths) == len(stages) * 4 and all(w % 16 == 0 for w in widths)  # 64 examples, batch 16
    assert max(widths) >= max(sentiment_dev.lengths())
