"""A method trained from task to checkpoint: its splits, its stages, its evaluation on dev."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smartbert.core.config import config_hash
from smartbert.core.errors import CheckpointError, SmartBertError
from smartbert.core.provenance import peak_rss_mb, provenance
from smartbert.data.encode import EncodedSplit
from smartbert.data.metrics import compute_metrics, majority_class
from smartbert.data.prepare import DataOptions, load_encoded
from smartbert.data.splits import holdout, subsample
from smartbert.data.tasks import TaskSpec, get_task
from smartbert.inference.record import record_trace
from smartbert.methods.checkpoint import load_model, read_meta, read_provenance, save_model
from smartbert.methods.registry import MethodConfig, final_logits, get_method
from smartbert.modeling import backbones
from smartbert.modeling.device import device_info, peak_gpu_memory_mb
from smartbert.modeling.heads import fuse_separate_qkv
from smartbert.replay.policies import NoExit
from smartbert.replay.trace import replay, skip_statistics
from smartbert.training.config import TrainConfig
from smartbert.training.precision import get_precision
from smartbert.training.resume import ResumeDir
from smartbert.training.trainer import StageReport, predict_logits, train_stage

log = logging.getLogger("smartbert")


def training_splits(spec: TaskSpec, tokenizer: Any, config: TrainConfig, data: DataOptions) -> tuple[EncodedSplit, EncodedSplit, EncodedSplit]:
    """(train, selection, dev): train subsampled to ``max_train_examples`` (by seed); selection
    is dev, or a held-out part of train when ``config.selection == 'heldout'``."""
    full_train = load_encoded(spec, "train", tokenizer, config.max_seq_len, data)
    dev = load_encoded(spec, "dev", tokenizer, config.max_seq_len, data)
    keep = subsample(range(len(full_train)), config.max_train_examples, config.seed)
    if config.selection == "heldout":
        keep, held = holdout(keep, config.heldout_fraction, config.seed)
        return full_train.subset(keep), full_train.subset(held), dev
    return full_train.subset(keep), dev, dev


@dataclass
class TrainingSummary:
    """What a training reports and saves with its model (the model description's fields, in order)."""

    task: str
    labels: list[str]
    train_config: dict[str, Any]
    data: dict[str, Any]
    sizes: dict[str, int]                       # train, selection, dev examples
    stages: list[dict[str, Any]]                # each StageReport: epochs, best epoch, seconds
    dev_metrics_no_exit: dict[str, float]       # full depth (a gated model: its skip-only path)
    dev_exit_head_metrics: dict[str, float]     # each exit head where its layer ran
    gates: dict[str, dict[str, Any]] | None     # skip statistics per split (gated models)
    dev_majority_class: dict[str, Any]
    train_seconds: float
    peak_rss_MB: float                          # of this process (a resumed training: of the last process only)
    peak_gpu_memory_MB: float | None
    device: dict[str, object]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def best_epochs(self) -> dict[str, int | None]:
        return {stage["stage"]: stage["best_epoch"] for stage in self.stages}


def train_method(task: str, method_name: str, backbone: str, out: str | Path, train_config: TrainConfig,
                 method_config: MethodConfig | None = None, data: DataOptions | None = None,
                 progress: bool = True, init_from: dict[str, str] | None = None, resume: bool = True,
                 device: torch.device | str = "cpu") -> TrainingSummary:
    """Fine-tune ``method_name`` on ``task`` from ``backbone`` on ``device``; save to ``out``; return
    the summary. ``init_from`` maps a method name to its trained model directory, for stages that
    reuse it. With ``resume``, epochs are checkpointed beside ``out`` (:class:`ResumeDir`) and a rerun
    of the same configuration after a kill continues from the last one; the checkpoints go once
    ``out`` is saved."""
    spec, method, data, init_from = get_task(task), get_method(method_name), data or DataOptions(), init_from or {}
    device = torch.device(device)
    get_precision(train_config.precision).check(device)  # before any work
    backbones.check_max_seq_len(backbone, train_config.max_seq_len)
    method_config = method_config or method.config_class()
    if not isinstance(method_config, method.config_class):
        raise SmartBertError(f"method {method.name} takes a {method.config_class.__name__}, got {type(method_config).__name__}")
    stages = method.stages(method_config)
    for stage in stages:  # fail before any work when a reused or teacher model is missing or wrong
        for needed, role in ((stage.reuse, "is"), (stage.teacher, "distils from")):
            if needed is None:
                continue
            if needed not in init_from:
                raise SmartBertError(f"stage {stage.name!r} of {method.name} {role} the trained {needed!r} model: "
                                     f"pass --init-from {needed}=DIR (a `smartbert train --method {needed}` output)")
            check_reusable(init_from[needed], needed, spec, backbone)
    what = {"method": method.name, "task": spec.name, "backbone": backbone}
    chash = config_hash(train_config, method_config, what)
    reused = {name: read_provenance(directory) for name, directory in init_from.items()}  # a retrained input: no resume
    checkpoints = ResumeDir.beside(out, config_hash(chash, data, reused)) if resume else None
    started = time.perf_counter()
    tokenizer = backbones.load_tokenizer(backbone)
    train, select, dev = training_splits(spec, tokenizer, train_config, data)
    log.info("%s: %d train, %d selection (%s), %d dev examples", spec.name, len(train), len(select),
             train_config.selection, len(dev))
    torch.manual_seed(train_config.seed)
    bert = backbones.load_backbone(backbone, seed=train_config.seed)
    model = method.build(bert, spec.num_labels, method_config).to(device)
    reports = []
    for stage in stages:
        if stage.reuse:
            load_reused(model, init_from[stage.reuse])
            if stage.after_reuse:
                stage.after_reuse(model)
            reports.append(StageReport(stage.name, reused_from=str(init_from[stage.reuse])))
            continue
        teacher = teacher_logits(init_from[stage.teacher], train, train_config, device) if stage.teacher else None
        reports.append(train_stage(model, stage, train, select, spec, train_config, progress, teacher, checkpoints))
    summary = TrainingSummary(
        task=spec.name,
        labels=list(spec.labels),
        train_config=dataclasses.asdict(train_config),
        data=dataclasses.asdict(data),
        sizes={"train": len(train), "selection": len(select), "dev": len(dev)},
        stages=[dataclasses.asdict(r) for r in reports],
        **evaluate_trained(model, select, dev, spec, train_config),
        dev_majority_class=majority_class(spec, dev.labels),
        train_seconds=time.perf_counter() - started,
        peak_rss_MB=peak_rss_mb(),
        peak_gpu_memory_MB=peak_gpu_memory_mb(device),
        device=device_info(device, train_config.precision),
    )
    # the same experiment at another seed: what tables may average over (and must not mix)
    experiment = config_hash(dataclasses.replace(train_config, seed=0), method_config, what)
    save_model(out, model, method, method_config, backbone, bert.config, tokenizer, summary.to_dict(),
               provenance(seed=train_config.seed, config_hash=chash, device=summary.device, experiment_hash=experiment))
    if checkpoints:
        checkpoints.clear()
    return summary


def check_reusable(directory: str | Path, method_name: str, spec: TaskSpec, backbone: str) -> None:
    """The model in ``directory`` must be a ``method_name`` model trained on ``spec``'s labels
    from the same backbone."""
    meta = read_meta(directory)
    if meta.method != method_name:
        raise CheckpointError(f"{directory} holds a {meta.method!r} model; this stage reuses a {method_name!r} model")
    if list(meta.labels) != list(spec.labels):
        raise CheckpointError(f"{directory} was trained on {meta.task} (labels {meta.labels}), not {spec.name}")
    if meta.backbone != backbone:
        raise CheckpointError(f"{directory} was trained from backbone {meta.backbone!r}, not {backbone!r}")


def load_reused(model, directory: str | Path) -> list[str]:
    """Copy every weight of the saved model that the new model has (same name and shape)."""
    from safetensors.torch import load_file


    saved = load_file(str(Path(directory) / "model.safetensors"))
    own = model.state_dict()
    for key in own:  # the new model's narrow attentions, from a model saved before Q, K, V were fused
        if key.endswith("qkv.weight"):
            fuse_separate_qkv(saved, key.removesuffix("qkv.weight"))
    shared = [k for k, v in saved.items() if k in own and own[k].shape == v.shape]
    missing = [k for k in own if k.startswith("encoder.") and k not in shared]
    if missing:
        raise CheckpointError(f"{directory}: its encoder does not fit this model (e.g. {missing[0]})")
    model.load_state_dict({k: saved[k] for k in shared}, strict=False)
    return shared


def teacher_logits(directory: str | Path, train: EncodedSplit, config: TrainConfig, device: torch.device | str = "cpu"):
    """The saved model's full-depth logits on every training example (distillation targets), as a
    host array (the trainer moves each batch's rows to the device)."""
    teacher = load_model(directory, device=device).model
    logits = predict_logits(teacher, train, final_logits, config.eval_batch_size)
    del teacher  # its memory (a GPU's) goes before the student trains
    return logits


def evaluate_trained(model, select: EncodedSplit, dev: EncodedSplit, spec: TaskSpec, config: TrainConfig) -> dict[str, Any]:
    """What is recorded with a trained model, from one trace per split along its inference path:
    the dev metric with no early exit (for a gated model: skip-only), each exit head's metric
    where its layer ran (a head that never learned is visible), and the gates' skip statistics
    (a collapse is logged as a warning)."""
    traces = {"dev": record_trace(model, dev, config.eval_batch_size, meta={})}
    traces["selection"] = traces["dev"] if select is dev else record_trace(model, select, config.eval_batch_size, meta={})
    dev_trace = traces["dev"]
    heads: dict[str, float] = {}
    for layer in model.exit_layers:
        rows = dev_trace.evaluated[:, layer - 1]
        if rows.any():
            heads[str(layer)] = compute_metrics(spec, dev_trace.logits[rows, layer - 1].argmax(-1), dev_trace.labels[rows])["metric"]
    report: dict[str, Any] = {
        "dev_metrics_no_exit": compute_metrics(spec, replay(dev_trace, NoExit()).prediction, dev_trace.labels),
        "dev_exit_head_metrics": heads,
        "gates": None,
    }
    if model.gates is not None:
        report["gates"] = {name: skip_statistics(trace) for name, trace in traces.items()}
        if report["gates"]["selection"]["collapsed"]:
            stats = report["gates"]["selection"]
            log.warning("gate collapse: layers %s are skipped for >= 99%% of selection examples (%.2f layers run on "
                        "average); lower lambda (method.lam) or choose it with `smartbert select`",
                        stats["always_skipped_layers"], stats["mean_layers_run"])
    return report
