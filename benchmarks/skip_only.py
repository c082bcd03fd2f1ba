"""Skip-only (Table 3: gates on, exits off) before and after it stopped running and counting the
intermediate exit heads it cannot use (issue 14, item 1).

Per model: the replayed cost (paper FLOPs, % of the backbone) with every head that ran counted (the
former behaviour) and with the last head only, and batch-1 latency of both, timed interleaved
example by example on the same dev examples (median of repeats). Usage:
    python benchmarks/skip_only.py --model DIR [--model DIR ...] [--examples 200] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smartbert.data.encode import collate
from smartbert.inference.dynamic import predict_one
from smartbert.inference.latency import Bench
from smartbert.replay.policies import NoExit
from smartbert.replay.sweep import summarise
from smartbert.replay.trace import replay


@dataclass
class EveryHeadNoExit(NoExit):
    """The former skip-only: never exits, yet evaluates (and is charged for) every head that ran."""

    reads_exit_heads = True


def measure(model_dir: str, examples: int, repeats: int) -> dict:
    bench = Bench(model_dir)
    policies = {"before": EveryHeadNoExit(), "after": NoExit()}
    costs = {name: summarise(bench.trace, replay(bench.trace, policy), bench.costs) for name, policy in policies.items()}
    data = bench.data.subset(np.linspace(0, len(bench.data) - 1, min(examples, len(bench.data))).round().astype(int).tolist())
    inputs = [collate(data, [i]) for i in range(len(data))]
    seconds = {name: [] for name in policies}
    for repeat in range(repeats + 1):  # the first pass warms up
        total = dict.fromkeys(policies, 0.0)
        for i, batch in enumerate(inputs):
            for name in (list(policies) if i % 2 == 0 else list(policies)[::-1]):
                start = time.perf_counter()
                predict_one(bench.model, batch["input_ids"], batch["token_type_ids"], policies[name])
                total[name] += time.perf_counter() - start
        if repeat:
            for name in policies:
                seconds[name].append(total[name])
    ms = {name: 1000 * statistics.median(values) / len(inputs) for name, values in seconds.items()}
    return {"model": model_dir, "task": bench.spec.name, "n_cost": len(bench.data), "n_latency": len(inputs),
            **{f"cost_pct_{name}": round(costs[name]["cost_pct_paper"], 2) for name in policies},
            **{f"avg_flops_M_{name}": round(costs[name]["avg_flops_paper_M"], 1) for name in policies},
            "metric_before": round(costs["before"]["metric"], 2), "metric_after": round(costs["after"]["metric"], 2),
            "avg_layers_run": round(costs["after"]["avg_layers_run"], 3),
            **{f"ms_{name}": round(ms[name], 2) for name in policies}, "latency_after_over_before": round(ms["after"] / ms["before"], 3),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = [measure(model, args.examples, args.repeats) for model in args.model]
    print(json.dumps(rows, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
