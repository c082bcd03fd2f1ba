"""Operators, host reads and CPU time per training step, BERT fine-tuning against SmartBERT's stages
(issue 32, Build 3), on a BERT-base-deep (12 layers) narrow random BERT, batch 16 at length 64.

On a GPU, eager training with small kernels is bound by the host: each ATen operator costs a few
microseconds to launch whatever its size, each host read waits for the queue. Counted on the CPU
(smartbert.modeling.op_count), twice: with the models' attention dropout, and with it off, because
the CPU's fused attention takes no dropout (it falls back to ~20 unfused operators per attention)
while CUDA's fused kernels do: the second count is what a GPU would launch for the attentions.
"kernels" leaves out operators that only make views (view, transpose, expand, ...).

Run once per code version to compare (the numbers of one run are comparable with each other only;
time alone on the machine):
    python benchmarks/training_ops.py --out results/bench/training_ops.json
    cd /tmp && PYTHONPATH=<checkout of an older commit> python <repo>/benchmarks/training_ops.py \
        --label before --out <repo>/results/bench/training_ops.json
(from outside the repository, so the older checkout is the one imported; a commit older than the
counter needs smartbert/modeling/op_count.py copied into its checkout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _result import write_result  # noqa: E402

#: Operators that make views or read metadata: no kernel on a GPU.
VIEW_OPS = frozenset({"aten::view", "aten::_unsafe_view", "aten::t", "aten::expand", "aten::transpose", "aten::permute",
                      "aten::unbind", "aten::select", "aten::slice", "aten::unsqueeze", "aten::squeeze", "aten::detach",
                      "aten::alias", "aten::as_strided", "aten::split", "aten::split_with_sizes", "aten::diagonal",
                      "aten::empty_like", "aten::empty", "aten::lift_fresh", "aten::_local_scalar_dense",
                      "aten::_reshape_alias", "aten::reshape"})
CASES = (("bert", "finetune", 0), ("smartbert", "stage1", 0), ("smartbert", "stage1", 4), ("smartbert", "stage2", 0))


def build_step(method_name: str, stage_name: str, epoch: int, attention_dropout: float, layers: int):
    """A zero-argument callable running one optimisation step of the stage, and the model."""
    import torch
    from transformers import BertConfig, BertModel

    from smartbert.methods.registry import get_method
    from smartbert.training.config import TrainConfig
    from smartbert.training.trainer import _parameter_groups, freeze_to, make_optimizer, optimisation_step

    torch.manual_seed(0)
    backbone = BertModel(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=layers, num_attention_heads=2,
                                    intermediate_size=256, max_position_embeddings=128,
                                    attention_probs_dropout_prob=attention_dropout))
    method = get_method(method_name)
    config = method.config_class()
    model = method.build(backbone, 2, config)
    for module in model.modules():  # the narrow attentions of gates and classifiers
        if isinstance(getattr(module, "dropout", None), float):
            module.dropout = attention_dropout
    stage = next(s for s in method.stages(config) if s.name == stage_name)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (16, 64), generator=generator)
    mask = torch.ones(16, 64, dtype=torch.long)
    mask[::3, 40:] = 0
    batch = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask,
             "labels": torch.randint(0, 2, (16,), generator=generator), "index": torch.arange(16)}
    if stage.frozen is not None:
        with torch.no_grad():
            batch["frozen"] = stage.frozen(model, batch)
    trainable = list(dict.fromkeys(stage.trainable(model)))
    names = {id(p): n for n, p in model.named_parameters()}
    optimizer = make_optimizer(_parameter_groups(trainable, names, 0.01), 1e-5)
    train_config = TrainConfig(batch_size=16)
    freeze_to(model, trainable, stage.frozen_dropout)
    return lambda: optimisation_step(model, stage, batch, epoch, trainable, optimizer, train_config)


def count(step) -> dict:
    """ATen operators (all, and those that launch kernels) and host reads of one step."""
    from smartbert.modeling.op_count import count_device_work
    step()
    with count_device_work() as work:
        step()
    return {"aten_ops": work.aten_ops, "kernel_ops": sum(n for name, n in work.ops.items() if name not in VIEW_OPS),
            "host_reads": work.host_reads}


def gate_and_mix_kernels(hidden: int, width: int, heads: int, attention_dropout: float) -> int:
    """Kernels of one skipping gate and the mix of eq. 1 (X^i = G X^{i-1} + (1 - G) E_i(X^{i-1})),
    forward and backward, written with PyTorch's modules and autograd as stage 1 runs them, on a
    batch of the benchmark's shape. Stage 1 adds this to every BERT layer, in series with it (gate i
    reads X^{i-1}), so ``bert + layers * this`` kernels is eager stage 1's floor before its losses:
    the adds that join the gate's gradient into X^{i-1}'s, the contrastive loss and the regulariser
    come on top."""
    import torch

    from smartbert.modeling.heads import SkipGate
    from smartbert.modeling.op_count import count_device_work

    torch.manual_seed(0)
    gate = SkipGate(hidden, width, heads, attention_dropout)
    before = torch.randn(16, 64, hidden, requires_grad=True)   # X^{i-1}
    layer_out = torch.randn(16, 64, hidden, requires_grad=True)  # E_i(X^{i-1})
    mask = torch.zeros(16, 1, 1, 64)
    mask[::3, ..., 40:] = torch.finfo(torch.float32).min
    upstream = torch.randn(16, 64, hidden)

    def step() -> None:
        for tensor in (before, layer_out, *gate.parameters()):
            tensor.grad = None  # as zero_grad(set_to_none=True): no accumulation kernels
        mixed = torch.lerp(layer_out, before, gate(before, mask).view(-1, 1, 1))
        torch.autograd.backward(mixed, upstream)

    step()
    with count_device_work() as work:
        step()
    return sum(n for name, n in work.ops.items() if name not in VIEW_OPS)


def seconds(step, repeats: int) -> float:
    """Median wall time of one step over ``repeats`` after two warm-up steps."""
    step()
    step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/bench/training_ops.json")
    parser.add_argument("--label", default="after", help="the key this run's numbers go under in --out")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for method, stage, epoch in CASES:
        row: dict = {"method": method, "stage": stage, "hard_gates": method == "smartbert" and epoch >= 3}
        for dropout, key in ((0.1, "with_attention_dropout"), (0.0, "without_attention_dropout")):
            row[key] = count(build_step(method, stage, epoch, dropout, args.layers))
        row["cpu_step_ms"] = 1000 * seconds(build_step(method, stage, epoch, 0.1, args.layers), args.repeats)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    bert = rows[0]
    floor = {}
    for dropout, key in ((0.1, "with_attention_dropout"), (0.0, "without_attention_dropout")):
        gate = gate_and_mix_kernels(64, 128, 2, dropout)
        bound = bert[key]["kernel_ops"] + args.layers * gate
        floor[key] = {"gate_and_mix_kernels": gate, "stage1_kernels_at_least": bound,
                      "ratio_to_bert_at_least": bound / bert[key]["kernel_ops"]}
    print(json.dumps({"eager_floor": floor}), file=sys.stderr)
    for row in rows:
        row["ratio_to_bert"] = {key: {n: row[key][n] / bert[key][n] for n in ("aten_ops", "kernel_ops")}
                                for key in ("with_attention_dropout", "without_attention_dropout")}
        row["ratio_to_bert"]["cpu_step_ms"] = row["cpu_step_ms"] / bert["cpu_step_ms"]
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    runs = {k: v for k, v in previous.get("runs", {}).items() if k != args.label}
    runs[args.label] = {"rows": rows, "eager_floor": floor, "torch": torch.__version__, "threads": args.threads}
    write_result({"benchmark": "training_ops", "layers": args.layers, "batch": [16, 64], "runs": runs}, str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
