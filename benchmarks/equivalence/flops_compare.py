"""FLOPs per dev example: the official thop count against ours in three conventions (module
docstring of :mod:`equivalence.thop_count`)."""

from __future__ import annotations

import statistics

from equivalence.smartbert_pair import Pair
from equivalence.thop_count import official_thop, our_components_thop
from smartbert.inference.dynamic import predict_one
from smartbert.modeling.flops import component_costs
from smartbert.replay.cost import BackboneShape
from smartbert.replay.policies import EntropyExit


def flops_rows(pair: Pair, examples: list[dict], thresholds: list[float]) -> list[dict]:
    """Per threshold (and once with gates off at S = 0, the official evaluation's first pass): the official thop count per example (padded to 128, as ``main.py``), ours counted
    by thop per component x the components our batch-1 loop evaluated, the same plus the official
    loop's extra calls (when the last layer ran it calls the last classifier again for logits it already
    has; with gates off it still computes every gate it passes), and ours in the paper and fvcore
    conventions; all in millions, mean over examples."""
    from equivalence.smartbert_pair import padded_example

    model = pair.ours.model
    thop = our_components_thop(model)
    costs = component_costs(BackboneShape.from_config(model.encoder.config), 128, model.num_labels)
    rows = []
    for threshold, gates in [(s, True) for s in thresholds] + [(0.0, False)]:
        official, ours, recount, paper, fvcore = [], [], [], [], []
        for example in examples:
            official.append(official_thop(pair.theirs.model, padded_example(example), threshold, gates))
            result = predict_one(model.eval(), example["input_ids"], example["token_type_ids"], EntropyExit(threshold), gates)
            counted = thop["embeddings"] + result.layers_run * thop["layer"] + result.heads * thop["exit_classifier"] \
                + result.gates * thop["skip_gate"]
            last_ran = result.exit_layer == model.num_layers and (not gates or _last_layer_ran(model, example))
            ours.append(counted)
            # the official loop's extra calls: the last classifier again when the last layer ran, and with
            # gates off (skipped_rate 1.0) every gate up to the exit still computed and compared
            extra = (thop["exit_classifier"] if last_ran else 0.0) + (0.0 if gates else result.exit_layer * thop["skip_gate"])
            recount.append(counted + extra)
            paper.append(costs.model_cost("paper", result.layers_run, result.heads, result.gates, "exit_classifier"))
            fvcore.append(costs.model_cost("fvcore", result.layers_run, result.heads, result.gates, "exit_classifier"))
        exact = sum(a == b for a, b in zip(official, recount))
        rows.append({
            "threshold": threshold, "gates": gates, "examples": len(examples),
            "official_thop_M": statistics.mean(official) / 1e6,
            "ours_thop_M": statistics.mean(ours) / 1e6,
            "ours_thop_as_official_loop_M": statistics.mean(recount) / 1e6,
            "examples_equal_as_official_loop": exact,
            "ours_paper_M": statistics.mean(paper) / 1e6,
            "ours_fvcore_M": statistics.mean(fvcore) / 1e6,
            "official_over_paper": statistics.mean(official) / statistics.mean(paper),
            "components_thop_M": {k: v / 1e6 for k, v in thop.items()},
            "components_paper_M": {k: costs.paper[k] / 1e6 for k in thop},
        })
    return rows


def _last_layer_ran(model, example: dict) -> bool:
    steps = list(model.walk(example["input_ids"], example["token_type_ids"], None, True))
    return bool(steps[-1].ran[0])
