"""The training settings every method shares (no torch: the CLI and the workflow's plan read them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from smartbert.core.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, Range, check_settings, setting
from smartbert.core.errors import SmartBertError


@dataclass
class TrainConfig:
    """Shared training hyper-parameters. The paper (section 4.3) trains every method with the same
    parameters and SmartBERT's first stage for 5 epochs; the official run script uses batch 16 and
    lr 2e-5 (the paper picks lr per task among 1e-5, 2e-5, 5e-5). So BERT fine-tunes as long and
    as SmartBERT's stage 1 does by default."""

    learning_rate: float = field(default=2e-5, metadata=setting("peak learning rate", POSITIVE))
    batch_size: int = field(default=16, metadata=setting("training examples per step", AT_LEAST_ONE))
    epochs: int = field(default=5, metadata=setting("passes over the training set", AT_LEAST_ONE))
    warmup_ratio: float = field(default=0.1, metadata=setting("the share of steps spent warming up", PROBABILITY))
    weight_decay: float = field(default=0.01, metadata=setting("AdamW weight decay", NON_NEGATIVE))
    max_grad_norm: float = field(default=1.0, metadata=setting("gradient clipping norm", POSITIVE))
    max_seq_len: int = field(default=128, metadata=setting("tokens per example (at most the backbone's positions)", Range(8)))
    max_train_examples: int | None = field(default=None, metadata=setting(
        "training examples kept (null: all)", AT_LEAST_ONE))
    selection: Literal["dev", "heldout"] = field(default="dev", metadata=setting(
        "where the best epoch is chosen: dev (paper, official code) or heldout (a split of train)"))
    heldout_fraction: float = field(default=0.1, metadata=setting(
        "the share of train held out, used when selection is heldout", FRACTION))
    eval_batch_size: int = field(default=64, metadata=setting("evaluation examples per batch", AT_LEAST_ONE))
    group_by_length: bool = field(default=True, metadata=setting("batch examples of similar length together"))
    pad_to_max_len: bool = field(default=False, metadata=setting(
        "pad every training batch to max_seq_len, as the official codes do (it matters where padding enters a loss: "
        "SmartBERT's contrast_padding); default: pad to each batch's longest", hashed_at_default=False))
    pad_to_multiple_of: int = field(default=1, metadata=setting(
        "round every training batch's length up to a multiple of this (8, 16 or 32: batch shapes repeat, which "
        "train.compile needs); 1: each batch's longest", AT_LEAST_ONE, hashed_at_default=False))
    compile: bool = field(default=False, metadata=setting(
        "run each stage's loss (forward and backward) through torch.compile: fewer, fused kernels on a GPU, minutes "
        "of compiling first; needs pad_to_multiple_of > 1", hashed_at_default=False))
    precision: Literal["fp32", "tf32", "bf16", "fp16"] = field(default="fp32", metadata=setting(
        "fp32 (paper), tf32, bf16 or fp16 (smartbert.training.precision; float32 weights always)"))
    seed: int = field(default=42, metadata=setting("random seed", NON_NEGATIVE))

    def __post_init__(self) -> None:
        check_settings(self)  # ranges and choices (precision: smartbert.training.precision checks the device)
        if self.compile and self.pad_to_multiple_of == 1:
            raise SmartBertError("train.compile needs repeated batch shapes: set train.pad_to_multiple_of to 16 or 32 "
                             "(each batch's length is rounded up to it)")
