"""What one training step pays for the frozen-pass cache on the CPU (issue 32, item 6).

1. Gathering a batch from the cache: the per-row Python loop it used to be (before) against one
   indexing op (after; padding reads a zero row), for MiniLM-L6's and BERT-base's per-token states (all
   layers, float32), batch 32 at lengths 30-128.
2. What the cache saves per step: SmartBERT stage 2's frozen stage-1 pass on MiniLM-L6 (computed
   live every step when the cache is off) against gathering the same batch from the cache.

Medians of interleaved repeats. No GPU number: on a GPU the gathered batch is also copied to the
device (from pinned memory), which this does not measure. Usage: python benchmarks/frozen_cache.py
[--repeats 15] [--threads 1] [--out results/bench/frozen_cache.json]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _result import write_result  # noqa: E402

from smartbert.modeling.frozen import FrozenCache, FrozenInputs  # noqa: E402

BATCH, SHORTEST, LONGEST = 32, 30, 128
SHAPES = {"minilm-l6": (6, 384), "bert-base": (12, 768)}


def loop_gather(cache: FrozenCache, index: torch.Tensor, width: int) -> FrozenInputs:
    """The gather before: a zero tensor per key, one slice copy per example."""
    tokens = {}
    for key, flat in cache.tokens.items():
        out = torch.zeros(len(index), width, *flat.shape[1:])
        for row, i in enumerate(index.tolist()):
            start, length = int(cache.offsets[i]), int(cache.lengths[i])
            out[row, :length] = flat[start:start + length]
        tokens[key] = out
    return FrozenInputs(tokens, {key: value[index] for key, value in cache.rows.items()})


def interleaved_ms(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each call, the calls taking turns ``repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def gather_costs(repeats: int) -> dict:
    """Milliseconds per batch of the loop and of the indexing gather, per backbone shape."""
    generator = torch.Generator().manual_seed(0)
    out = {}
    for name, (layers, hidden) in SHAPES.items():
        lengths = torch.randint(SHORTEST, LONGEST + 1, (4 * BATCH,), generator=generator).tolist()
        cache = FrozenCache(lengths, {"inputs": torch.randn(sum(lengths) + 1, layers, hidden, generator=generator)}, {})
        index = torch.randperm(len(lengths), generator=generator)[:BATCH]
        width = max(lengths[i] for i in index.tolist())
        assert torch.equal(loop_gather(cache, index, width).tokens["inputs"],
                           cache.gather(index, width, torch.device("cpu")).tokens["inputs"])
        ms = interleaved_ms({"loop": functools.partial(loop_gather, cache, index, width),
                             "indexing": functools.partial(cache.gather, index, width, torch.device("cpu"))}, repeats)
        out[name] = {"batch_MB": round(BATCH * width * layers * hidden * 4 / 2**20, 1), "loop_ms": round(ms["loop"], 2),
                     "indexing_ms": round(ms["indexing"], 2), "x_faster": round(ms["loop"] / ms["indexing"], 2)}
    return out


def saved_per_step(repeats: int) -> dict:
    """SmartBERT stage 2's frozen pass on MiniLM-L6 (batch 32 of random tokens at lengths 30-128,
    live) against gathering the same batch from the cache."""
    from smartbert.data.encode import EncodedSplit, iterate_batches
    from smartbert.methods.registry import get_method
    from smartbert.modeling import backbones

    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(SHORTEST, LONGEST + 1, (BATCH,), generator=generator).tolist()
    ids = [torch.randint(1000, 20000, (n,), generator=generator).tolist() for n in lengths]
    data = EncodedSplit(ids, [[0] * n for n in lengths], [0] * BATCH)
    method = get_method("smartbert")
    config = method.config_class()
    model = method.build(backbones.load_backbone("minilm-l6"), 3, config).eval()
    stage = method.stages(config)[1]
    assert stage.frozen is not None
    batch = next(iterate_batches(data, BATCH, shuffle=False))
    cache = FrozenCache.build(model, stage.frozen, data, BATCH, 4096, "bench")
    assert cache is not None
    width = batch["input_ids"].shape[1]
    with torch.no_grad():
        ms = interleaved_ms({"live": functools.partial(stage.frozen, model, batch),
                             "cached": functools.partial(cache.gather, batch["index"], width, torch.device("cpu"))}, repeats)
    return {"backbone": "minilm-l6", "batch": BATCH, "width": width, "live_frozen_pass_ms": round(ms["live"], 1),
            "cached_gather_ms": round(ms["cached"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    result = {"threads": args.threads, "gather": gather_costs(args.repeats), "per_step": saved_per_step(args.repeats)}
    result["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0], "cores": os.cpu_count()}
    result["note"] = "CPU only, medians of interleaved repeats; a load above the cores means other processes shared them"
    write_result(result, args.out)


if __name__ == "__main__":
    main()
