"""The one training loop every method and stage uses.

AdamW (no weight decay on biases and LayerNorm), linear schedule with warmup, gradient clipping,
evaluation after every epoch, the best epoch's weights restored at the end (chosen on dev, as
the paper and official code do, or on a held-out split of train; a stage may keep its last epoch
instead, ``Stage.keep``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.data.metrics import compute_metrics
from smartbert.data.tasks import TaskSpec
from smartbert.methods.registry import Stage
from smartbert.modeling.device import model_device, rng_state, set_rng_state, to_device
from smartbert.modeling.frozen import FrozenCache, cache_limit_mb
from smartbert.modeling.model import EarlyExitModel
from smartbert.training.config import TrainConfig
from smartbert.training.precision import MixedPrecision, NonFiniteLossError, get_precision  # noqa: F401 (NonFiniteLossError: re-exported)
from smartbert.training.resume import ResumeDir

log = logging.getLogger("smartbert.train")


@dataclass
class StageReport:
    stage: str
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("nan")
    seconds: float = 0.0
    reused_from: str | None = None


def _parameter_groups(params: list[nn.Parameter], names: dict[int, str], weight_decay: float) -> list[dict]:
    no_decay = lambda p: names.get(id(p), "").endswith("bias") or "LayerNorm" in names.get(id(p), "") or p.ndim == 1  # noqa: E731
    return [
        {"params": [p for p in params if not no_decay(p)], "weight_decay": weight_decay},
        {"params": [p for p in params if no_decay(p)], "weight_decay": 0.0},
    ]


def linear_warmup(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Lr x step/warmup during warmup, then linearly down to 0 at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def predict_logits(model: EarlyExitModel, data: EncodedSplit, logits_fn: Callable, batch_size: int,
                   frozen: FrozenFeed | None = None) -> np.ndarray:
    """Logits of ``logits_fn(model, batch)`` ([B, C], or [B, K, C] for K heads) for every
    example of ``data``, in data order (``frozen``: a stage's frozen inputs for ``data``)."""
    was_training, device = model.training, model_device(model)
    model.eval()
    chunks, rows = [], []
    for batch in iterate_batches(data, batch_size, shuffle=False):
        batch = to_device(batch, device)
        if frozen is not None:
            frozen.attach(model, batch)
        chunks.append(logits_fn(model, batch).float().cpu().numpy())
        rows.append(batch["index"].numpy())
    model.train(was_training)
    out = np.zeros((len(data), *chunks[0].shape[1:]), dtype=np.float32)
    out[np.concatenate(rows)] = np.concatenate(chunks)
    return out


def score(task: TaskSpec, logits: np.ndarray, labels: list[int]) -> dict[str, Any]:
    """Metrics of [N, C] logits; for [N, K, C] (K heads) each head's metric and their mean."""
    if logits.ndim == 2:
        return compute_metrics(task, logits.argmax(-1), labels)
    per_head = [compute_metrics(task, logits[:, k].argmax(-1), labels)["metric"] for k in range(logits.shape[1])]
    return {"metric": float(np.mean(per_head)), "per_head_metric": per_head}


def freeze_to(model: nn.Module, trainable: list[nn.Parameter], frozen_dropout: bool = False) -> None:
    """Only ``trainable`` gets gradients; sub-modules with nothing to train run in eval mode (a
    frozen backbone gives the same features every epoch: no dropout), unless ``frozen_dropout``."""
    ids = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    model.train()
    if frozen_dropout:
        return
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


class FrozenFeed:
    """A stage's frozen inputs (``Stage.frozen``) for one split: served from a :class:`FrozenCache`
    when one was built, else computed live, once per batch, without gradients."""

    def __init__(self, stage: Stage, cache: FrozenCache | None, amp: MixedPrecision) -> None:
        self.stage, self.cache, self.amp = stage, cache, amp

    @classmethod
    def for_split(cls, model: EarlyExitModel, stage: Stage, data: EncodedSplit, amp: MixedPrecision,
                  batch_size: int, what: str) -> FrozenFeed | None:
        """None for a stage without frozen inputs; a cache unless dropout runs in the frozen part."""
        if stage.frozen is None:
            return None
        cache = None
        if not stage.frozen_dropout:
            with amp.autocast():
                cache = FrozenCache.build(model, stage.frozen, data, batch_size, cache_limit_mb(), f"stage {stage.name}, {what}")
        return cls(stage, cache, amp)

    def attach(self, model: EarlyExitModel, batch: dict) -> None:
        """``batch["frozen"]``: the batch's frozen inputs (``batch`` on the model's device)."""
        if self.cache is not None:
            batch["frozen"] = self.cache.gather(batch["index"], batch["input_ids"].shape[1], model_device(model))
        else:
            assert self.stage.frozen is not None  # a feed is made for stages that read a frozen part
            with torch.no_grad(), self.amp.autocast():
                batch["frozen"] = self.stage.frozen(model, batch)


def make_optimizer(groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW, fused where the parameters' device has the kernel (CPU, CUDA: one kernel over every
    parameter instead of a dozen small ops per parameter; on a 2-core CPU the per-parameter loop
    cost ~10% of a MiniLM step), else the default implementation."""
    device = next(p.device for group in groups for p in group["params"])
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


def compiled(stage: Stage) -> Stage:
    """``stage`` with its loss through torch.compile (``train.compile``): the forward and, through
    AOTAutograd, the backward become a few fused kernels per shape; the optimizer, clipping and the
    epoch's scoring stay eager. A new batch shape compiles again (``train.pad_to_multiple_of``
    keeps them few); so may the first epoch with hard gates (``hard_at(epoch)`` is a guard)."""
    return dataclasses.replace(stage, loss=torch.compile(stage.loss))


def optimisation_step(model: EarlyExitModel, stage: Stage, batch: dict, epoch: int, trainable: list[nn.Parameter],
                      optimizer: torch.optim.Optimizer, config: TrainConfig, where: str = "",
                      amp: MixedPrecision | None = None) -> torch.Tensor:
    """One step on a batch already on the model's device: ``stage.loss`` under ``amp``'s autocast
    (default: ``config.precision`` on that device), then backward, clipping and the optimizer step
    (:meth:`MixedPrecision.step`: a non-finite loss never reaches the weights)."""
    amp = amp or MixedPrecision(config.precision, model_device(model))
    with amp.autocast():
        loss, terms = stage.loss(model, batch, epoch)
    amp.step(loss, terms, trainable, optimizer, config.max_grad_norm, where)
    return loss.detach()


def train_stage(model: EarlyExitModel, stage: Stage, train: EncodedSplit, select: EncodedSplit,
                task: TaskSpec, config: TrainConfig, progress: bool = True,
                teacher_logits: np.ndarray | None = None, resume: ResumeDir | None = None) -> StageReport:
    """Train ``stage``'s parameters of ``model``; keep the epoch that scores best on ``select``.
    ``teacher_logits`` ([len(train), C]) reach the loss as ``batch["teacher_logits"]``; with
    ``resume``, every epoch is checkpointed and a killed run continues after its last epoch."""
    trainable = list(dict.fromkeys(stage.trainable(model)))
    names = {id(p): n for n, p in model.named_parameters()}
    device = model_device(model)
    amp = MixedPrecision(config.precision, device)
    if config.compile:
        stage = compiled(stage)
    epochs = stage.epochs or config.epochs
    lr = stage.learning_rate or config.learning_rate
    optimizer = make_optimizer(_parameter_groups(trainable, names, config.weight_decay), lr)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    scheduler = linear_warmup(optimizer, int(config.warmup_ratio * epochs * steps_per_epoch), epochs * steps_per_epoch)
    report = StageReport(stage.name)
    best_state: dict[str, torch.Tensor] | None = None
    started = time.perf_counter()
    step, first_epoch = 0, 0
    saved = resume.load(stage.name) if resume else None
    if resume is not None and saved is not None:
        model.load_state_dict(saved["model"])
        set_rng_state(saved["rng"])
        report = StageReport(**saved["report"])
        if saved["done"]:
            log.info("stage %s already finished: restored from %s", stage.name, resume.directory)
            return report
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        amp.load_state_dict(saved.get("scaler"))
        best_state, step, first_epoch = saved["best_state"], saved["step"], saved["epoch"]
        log.warning("stage %s: resuming after epoch %d from %s", stage.name, first_epoch, resume.directory)
    freeze_to(model, trainable, stage.frozen_dropout)
    train_feed = FrozenFeed.for_split(model, stage, train, amp, config.eval_batch_size, "train")
    select_feed = FrozenFeed.for_split(model, stage, select, amp, config.eval_batch_size, config.selection)
    for epoch in range(first_epoch, epochs):
        freeze_to(model, trainable, stage.frozen_dropout)
        losses, epoch_started = [], time.perf_counter()
        batches = iterate_batches(train, config.batch_size, shuffle=True, seed=config.seed * 1000 + epoch,
                                  group_by_length=config.group_by_length,
                                  pad_to=config.max_seq_len if config.pad_to_max_len else None,
                                  multiple_of=config.pad_to_multiple_of)
        bar = tqdm(batches, total=steps_per_epoch, desc=f"{stage.name} epoch {epoch + 1}/{epochs}",
                   unit="batch", disable=not progress, leave=False)
        for batch in bar:
            if teacher_logits is not None:
                batch["teacher_logits"] = torch.from_numpy(teacher_logits[batch["index"].numpy()])
            batch = to_device(batch, device)
            if train_feed is not None:
                train_feed.attach(model, batch)
            loss = optimisation_step(model, stage, batch, epoch, trainable, optimizer, config,
                                     where=f"stage {stage.name}: epoch {epoch + 1}, step {step}", amp=amp)
            scheduler.step()
            losses.append(loss)  # on the device: reading it every step would wait for the GPU every step
            step += 1
            if progress and step % 50 == 0:
                bar.set_postfix(loss=f"{torch.stack(losses[-50:]).mean().item():.4f}")
        amp.check()  # the steps since the last read: a non-finite one stops here, before scoring or saving
        epoch_losses = torch.stack(losses).float().cpu().numpy()
        train_seconds = time.perf_counter() - epoch_started
        metrics = score(task, predict_logits(model, select, stage.score_logits, config.eval_batch_size, select_feed), select.labels)
        mean_loss = float(np.mean(epoch_losses[np.isfinite(epoch_losses)])) if np.isfinite(epoch_losses).any() else float("nan")  # fp16: skipped steps
        report.epochs.append({"epoch": epoch + 1, "train_loss": mean_loss, **metrics,
                              "seconds": round(time.perf_counter() - epoch_started, 2),
                              "examples_per_s": round(len(train) / train_seconds, 1)})
        log.info("%s epoch %d/%d: loss %.4f, %s on %s %.2f, %.1f s (%.1f train examples/s on %s)", stage.name, epoch + 1,
                 epochs, mean_loss, task.main_metric, config.selection, metrics["metric"], report.epochs[-1]["seconds"],
                 report.epochs[-1]["examples_per_s"], device)
        if stage.keep == "last" or best_state is None or metrics["metric"] > report.best_metric:
            report.best_epoch, report.best_metric = epoch + 1, metrics["metric"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if resume:
            resume.save(stage.name, {"done": False, "epoch": epoch + 1, "step": step, "model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                     "best_state": best_state, "rng": rng_state(), "scaler": amp.state_dict(),
                                     "report": _report_state(report, started)})
    assert best_state is not None  # every stage trains at least one epoch (TrainConfig.epochs >= 1)
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    report.seconds += time.perf_counter() - started
    log.info("%s done: %s epoch %d of %d, %s on %s %.2f, %.1f s", stage.name, stage.keep, report.best_epoch, epochs,
             task.main_metric, config.selection, report.best_metric, report.seconds)
    if resume:
        resume.save(stage.name, {"done": True, "model": model.state_dict(), "rng": rng_state(),
                                 "report": dataclasses.asdict(report)})
    return report


def _report_state(report: StageReport, started: float) -> dict:
    """The report as saved mid-stage: seconds so far included, so a resumed stage reports its total."""
    return dict(dataclasses.asdict(report), seconds=report.seconds + time.perf_counter() - started)
