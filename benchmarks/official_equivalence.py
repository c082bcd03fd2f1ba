"""Our SmartBERT against the official code, step by step (issue 33).

Builds the official model (github HuBoren99/SmartBert, from a checkout given by ``--official``) and
ours from one backbone, maps every parameter (checked by counts and shapes), turns dropout off, and
compares on fixed batches of real RTE and SST-2 (GLUE TSVs): stage-1 loss terms (CE, the skip term
and the contrastive term of eqs. 3-4) in soft and hard gate mode with every mapped parameter's
gradient; stage-2 CE per classifier and the contrastive term of eqs. 5-6 with gradients; inference
(skip decisions, head logits, exit layers) of our batch-1 and replay paths against the official loop
at several thresholds; FLOPs under the official thop count against ours. Our side runs with the
official fidelity options (``config/variants/smartbert-official.yaml``), where everything must agree;
our paper defaults are compared too, to measure each documented departure.

    python benchmarks/official_equivalence.py --official /tmp/official-smartbert --deps /tmp/official-deps \
        --glue-dir ../shared/glue --out results/bench/official_equivalence.json \
        [--pabee /tmp/pabee] [--deebert /tmp/deebert]

README ("Equivalence with the official code") says how to fetch the checkout and which commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _result import write_result  # noqa: E402
from equivalence import official_code  # noqa: E402
from equivalence.compare import FP32, Check  # noqa: E402
from equivalence.smartbert_pair import (  # noqa: E402
    OfficialSmartBert,
    OurSmartBert,
    Pair,
    build_official,
    inference_checks,
    link_models,
    official_mapping,
    padded_example,
    sharpen,
    stage1_checks,
    stage2_checks,
    zero_dropout,
)

from smartbert.data.encode import EncodedSplit, collate, encode  # noqa: E402
from smartbert.data.load import load_split  # noqa: E402
from smartbert.methods.smartbert import SmartBert, SmartBertConfig  # noqa: E402
from smartbert.modeling.backbones import load_backbone, load_tokenizer  # noqa: E402
from smartbert.modeling.model import EarlyExitModel  # noqa: E402

MAX_LEN = 128
#: the official options (config/variants/smartbert-official.yaml's method block, dropout aside)
OFFICIAL_OPTIONS = {"lam": 0.04, "eta1": 0.01, "eta2": 0.05, "t1": 0.5, "t2": 0.55, "loss_mixing": "official",
                    "stage2_input": "raw", "stage2_contrast": "official", "stage1_contrast": "official",
                    "contrast_padding": True}
#: each fidelity option that changes a loss, at its paper value (the others official): what it moves
PAPER_VALUES = {"loss_mixing": "paper", "stage2_input": "gated", "stage2_contrast": "paper", "stage1_contrast": "paper",
                "contrast_padding": False}


def encoded(task: str, split: str, count: int, tokenizer, glue_dir: str) -> EncodedSplit:
    """The first ``count`` examples of a GLUE split (fixed), tokenised as our pipeline does."""
    return encode(load_split(task, split, "tsv", glue_dir)[:count], tokenizer, MAX_LEN)


#: (head, gate) output scales per backbone: untrained heads and gates spread so that, on real dev
#: examples, entropies span the thresholds and gates fall on both sides of 0.5 (checked in the result)
SHARPEN = {"tiny": (30.0, 40.0), "minilm-l6": (80.0, 40.0)}


def our_model(backbone_name: str, config: SmartBertConfig, seed: int) -> EarlyExitModel:
    """Our SmartBERT on the backbone, dropout off, heads and gates spread (:func:`sharpen`)."""
    torch.manual_seed(seed)
    model = SmartBert().build(load_backbone(backbone_name, seed), 2, config)
    zero_dropout(model)
    heads, gates = SHARPEN.get(backbone_name, (30.0, 40.0))
    sharpen(model, heads=heads, gates=gates, seed=seed)
    return model


def make_pair(model: EarlyExitModel, config: SmartBertConfig, modules) -> tuple[Pair, dict]:
    official = build_official(*modules, model, 2)
    pair = Pair(OurSmartBert(model, config), OfficialSmartBert(official, config), official_mapping(model), FP32)
    return pair, link_models(pair)


def run_backbone(name: str, args, modules) -> dict:
    """Every check for one backbone: the official options (all must agree), inference, FLOPs, and the
    paper defaults (departures measured)."""
    started = time.time()
    tokenizer = load_tokenizer(name)
    config = SmartBertConfig(**OFFICIAL_OPTIONS, dropout=0.0)
    model = our_model(name, config, args.seed)
    pair, counts = make_pair(model, config, modules)
    rows: list[Check] = []
    gradient_parameters = 0
    flops = {}
    for task in args.tasks:
        batch = padded_example(collate(encoded(task, "train", args.batch, tokenizer, args.glue_dir), list(range(args.batch))))
        for checks in (stage1_checks, stage2_checks):
            table, every = checks(pair, batch, f"{name} {task}")
            rows += table
            gradient_parameters += len(every)
        dev = encoded(task, "dev", args.examples, tokenizer, args.glue_dir)
        singles = [collate(dev, [i]) for i in range(len(dev))]
        rows += inference_checks(pair, singles, [padded_example(x) for x in singles], dev, f"{name} {task}", args.thresholds)
        if args.flops:
            from equivalence.flops_compare import flops_rows

            flops[task] = flops_rows(pair, singles, args.flops_thresholds)
    departures = measure_departures(name, args, modules, tokenizer)
    return {"mapping": counts, "checks": [r.row() for r in rows], "gradient_checks": gradient_parameters,
            "flops": flops, "departures": departures, "seconds": round(time.time() - started, 1)}


def measure_departures(name: str, args, modules, tokenizer) -> list[dict]:
    """Loss terms of our side with one fidelity option at its paper value (and all at once: our
    default) against the official code, on the first task's batch: how far each departure moves them."""
    task = args.tasks[0]
    batch = padded_example(collate(encoded(task, "train", args.batch, tokenizer, args.glue_dir), list(range(args.batch))))
    variants = {f"{key}: {value}": {**OFFICIAL_OPTIONS, key: value} for key, value in PAPER_VALUES.items()}
    variants["paper defaults (all five)"] = {**OFFICIAL_OPTIONS, **PAPER_VALUES}
    out = []
    for label, options in variants.items():
        config = SmartBertConfig(**options, dropout=0.0)
        pair, _ = make_pair(our_model(name, config, args.seed), config, modules)
        terms = {}
        with torch.no_grad():
            for term in ("ce", "skip", "ccl", "total"):  # soft gates (hard ones move the same terms)
                a, b = float(pair.ours.stage1(batch, False, term)), float(pair.theirs.stage1(batch, False, term))
                terms[f"stage1 {term}"] = {"ours": a, "official": b}
            for term in ("ce_sum", "ccl", "total"):
                a, b = float(pair.ours.stage2(batch, term)), float(pair.theirs.stage2(batch, term))
                terms[f"stage2 {term}"] = {"ours": a, "official": b}
        for values in terms.values():
            values["relative"] = abs(values["ours"] - values["official"]) / max(abs(values["official"]), 1e-12)
        out.append({"variant": label, "task": task, "terms": terms})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", help="checkout of github HuBoren99/SmartBert")
    parser.add_argument("--deps", help="folder of the official code's extra packages (pip install --target)")
    parser.add_argument("--glue-dir", help="folder of the GLUE TSVs")
    parser.add_argument("--table", help="print the Markdown tables of a result JSON (benchmarks/README.md) and stop")
    parser.add_argument("--backbones", nargs="+", default=["minilm-l6", "tiny"])
    parser.add_argument("--tasks", nargs="+", default=["RTE", "SST-2"])
    parser.add_argument("--batch", type=int, default=8, help="training examples per compared batch")
    parser.add_argument("--examples", type=int, default=40, help="dev examples per task for inference")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5, 0.6])
    parser.add_argument("--flops-thresholds", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--no-flops", dest="flops", action="store_false")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pabee", help="checkout of github JetRunner/PABEE")
    parser.add_argument("--deebert", help="checkout of github castorini/DeeBERT")
    parser.add_argument("--no-smartbert", dest="smartbert", action="store_false", help="only the baselines")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.table:
        from equivalence.table import baseline_table, smartbert_table

        result = json.loads(Path(args.table).read_text())
        print(smartbert_table(result) + "\n" + baseline_table(result))
        return 0
    if not args.official or not args.glue_dir:
        parser.error("--official and --glue-dir are required (except with --table)")
    torch.set_num_threads(args.threads)
    official_code.add_dependency_folder(args.deps)
    modules = official_code.official_smartbert(args.official)
    result: dict = {"official": {"repository": "github HuBoren99/SmartBert", "commit": official_code.git_commit(args.official)},
                    "tolerance_fp32": dataclasses.asdict(FP32), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "batch": args.batch, "dev_examples": args.examples, "seed": args.seed, "backbones": {}}
    for name in args.backbones if args.smartbert else []:
        result["backbones"][name] = run_backbone(name, args, modules)
    if args.pabee or args.deebert:
        from equivalence.baselines import run_baselines

        result["baselines"] = run_baselines(args)
    checks = [c for b in result["backbones"].values() for c in b["checks"]]
    checks += [c for method in result.get("baselines", {}).values() for c in method["checks"]]
    result["all_equal"] = all(c["ok"] for c in checks)
    result["failing"] = [f"{c['group']}: {c['name']} ({c['error']:.3g} > {c['tolerance']:g})" for c in checks if not c["ok"]]
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
