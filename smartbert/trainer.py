"""The one training loop every method and stage uses.

AdamW (no weight decay on biases and LayerNorm), linear schedule with warmup, gradient clipping,
evaluation after every epoch, the best epoch's weights restored at the end (chosen on dev, as
the paper and official code do, or on a held-out split of train).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from smartbert.data.encode import EncodedSplit, iterate_batches
from smartbert.data.tasks import TaskSpec
from smartbert.errors import SmartBertError
from smartbert.metrics import compute_metrics
from smartbert.model import EarlyExitModel
from smartbert.registry import Stage
from smartbert.resume import ResumeDir

log = logging.getLogger("smartbert.train")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Shared training hyper-parameters. The paper (section 4.3) trains every method with the same
    parameters and SmartBERT's first stage for 5 epochs; the official run script uses batch 16 and
    lr 2e-5 (the paper picks lr per task among 1e-5, 2e-5, 5e-5). So BERT fine-tunes as long and
    as SmartBERT's stage 1 does by default."""

    learning_rate: float = 2e-5
    batch_size: int = 16
    epochs: int = 5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_seq_len: int = 128
    max_train_examples: int | None = None
    selection: str = "dev"          # "dev" (paper, official code) or "heldout" (split of train)
    heldout_fraction: float = 0.1   # used when selection == "heldout"
    eval_batch_size: int = 64
    group_by_length: bool = True
    precision: str = "fp32"         # "fp32" or "bf16" (autocast: bfloat16 matmuls, float32 weights and optimizer)
    seed: int = 42

    def __post_init__(self) -> None:
        if self.selection not in ("dev", "heldout"):
            raise SmartBertError(f"selection must be 'dev' or 'heldout', got {self.selection!r}")
        if self.precision not in PRECISIONS:
            raise SmartBertError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        for name in ("learning_rate", "batch_size", "epochs", "max_seq_len", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise SmartBertError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass
class StageReport:
    stage: str
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("nan")
    seconds: float = 0.0
    reused_from: str | None = None


class NonFiniteLossError(SmartBertError):
    """Training produced a NaN or infinite loss."""


def _parameter_groups(params: list[nn.Parameter], names: dict[int, str], weight_decay: float) -> list[dict]:
    no_decay = lambda p: names.get(id(p), "").endswith("bias") or "LayerNorm" in names.get(id(p), "") or p.ndim == 1  # noqa: E731
    return [
        {"params": [p for p in params if not no_decay(p)], "weight_decay": weight_decay},
        {"params": [p for p in params if no_decay(p)], "weight_decay": 0.0},
    ]


def linear_warmup(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """lr x step/warmup during warmup, then linearly down to 0 at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def predict_logits(model: EarlyExitModel, data: EncodedSplit, logits_fn: Callable, batch_size: int) -> np.ndarray:
    """Logits of ``logits_fn(model, batch)`` ([B, C], or [B, K, C] for K heads) for every
    example of ``data``, in data order."""
    was_training = model.training
    model.eval()
    chunks, rows = [], []
    for batch in iterate_batches(data, batch_size, shuffle=False):
        chunks.append(logits_fn(model, batch).float().numpy())
        rows.append(batch["index"].numpy())
    model.train(was_training)
    out = np.zeros((len(data), *chunks[0].shape[1:]), dtype=np.float32)
    out[np.concatenate(rows)] = np.concatenate(chunks)
    return out


def score(task: TaskSpec, logits: np.ndarray, labels: list[int]) -> dict[str, float]:
    """Metrics of [N, C] logits; for [N, K, C] (K heads) each head's metric and their mean."""
    if logits.ndim == 2:
        return compute_metrics(task, logits.argmax(-1), labels)
    per_head = [compute_metrics(task, logits[:, k].argmax(-1), labels)["metric"] for k in range(logits.shape[1])]
    return {"metric": float(np.mean(per_head)), "per_head_metric": per_head}


def freeze_to(model: nn.Module, trainable: list[nn.Parameter]) -> None:
    """Only ``trainable`` gets gradients; sub-modules with nothing to train run in eval mode
    (a frozen backbone gives the same features every epoch: no dropout)."""
    ids = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


def make_optimizer(groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW, fused (one kernel over every parameter instead of a dozen small ops per parameter:
    on a 2-core CPU the per-parameter loop cost ~10% of a MiniLM step)."""
    return torch.optim.AdamW(groups, lr=lr, fused=True)


def optimisation_step(model: EarlyExitModel, stage: Stage, batch: dict, epoch: int, trainable: list[nn.Parameter],
                      optimizer: torch.optim.Optimizer, config: TrainConfig, where: str = "") -> torch.Tensor:
    """One step: ``stage.loss`` (under bf16 autocast if ``config.precision`` says so), backward,
    gradient clipping, optimizer step. A non-finite loss stops training before it reaches the weights."""
    dtype = PRECISIONS[config.precision]
    with torch.autocast(device_type=batch["input_ids"].device.type, dtype=dtype, enabled=dtype is not None):
        loss, terms = stage.loss(model, batch, epoch)
    if not torch.isfinite(loss):
        values = ", ".join(f"{k}={float(torch.as_tensor(v).detach()):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(f"{where}: non-finite loss {loss.item()} (terms: {values}). "
                                 "Lower the learning rate or check the loss weights.")
    loss.backward()
    nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def train_stage(model: EarlyExitModel, stage: Stage, train: EncodedSplit, select: EncodedSplit,
                task: TaskSpec, config: TrainConfig, progress: bool = True,
                teacher_logits: np.ndarray | None = None, resume: ResumeDir | None = None) -> StageReport:
    """Train ``stage``'s parameters of ``model``; keep the epoch that scores best on ``select``.
    ``teacher_logits`` ([len(train), C]) reach the loss as ``batch["teacher_logits"]``; with
    ``resume``, every epoch is checkpointed and a killed run continues after its last epoch."""
    from tqdm import tqdm

    trainable = list(dict.fromkeys(stage.trainable(model)))
    names = {id(p): n for n, p in model.named_parameters()}
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
    if saved is not None:
        model.load_state_dict(saved["model"])
        torch.set_rng_state(saved["rng"])
        report = StageReport(**saved["report"])
        if saved["done"]:
            log.info("stage %s already finished: restored from %s", stage.name, resume.directory)
            return report
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        best_state, step, first_epoch = saved["best_state"], saved["step"], saved["epoch"]
        log.warning("stage %s: resuming after epoch %d from %s", stage.name, first_epoch, resume.directory)
    for epoch in range(first_epoch, epochs):
        freeze_to(model, trainable)
        losses = []
        batches = iterate_batches(train, config.batch_size, shuffle=True, seed=config.seed * 1000 + epoch,
                                  group_by_length=config.group_by_length)
        bar = tqdm(batches, total=steps_per_epoch, desc=f"{stage.name} epoch {epoch + 1}/{epochs}",
                   unit="batch", disable=not progress, leave=False)
        for batch in bar:
            if teacher_logits is not None:
                batch["teacher_logits"] = torch.from_numpy(teacher_logits[batch["index"].numpy()])
            loss = optimisation_step(model, stage, batch, epoch, trainable, optimizer, config,
                                     where=f"stage {stage.name}: epoch {epoch + 1}, step {step}")
            scheduler.step()
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        metrics = score(task, predict_logits(model, select, stage.score_logits, config.eval_batch_size), select.labels)
        report.epochs.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), **metrics})
        log.info("%s epoch %d/%d: loss %.4f, %s on %s %.2f", stage.name, epoch + 1, epochs, np.mean(losses),
                 task.main_metric, config.selection, metrics["metric"])
        if best_state is None or metrics["metric"] > report.best_metric:
            report.best_epoch, report.best_metric = epoch + 1, metrics["metric"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if resume:
            resume.save(stage.name, {"done": False, "epoch": epoch + 1, "step": step, "model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                     "best_state": best_state, "rng": torch.get_rng_state(),
                                     "report": _report_state(report, started)})
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    report.seconds += time.perf_counter() - started
    if resume:
        resume.save(stage.name, {"done": True, "model": model.state_dict(), "rng": torch.get_rng_state(),
                                 "report": dataclasses.asdict(report)})
    return report


def _report_state(report: StageReport, started: float) -> dict:
    """The report as saved mid-stage: seconds so far included, so a resumed stage reports its total."""
    return dict(dataclasses.asdict(report), seconds=report.seconds + time.perf_counter() - started)
