"""DeeBERT and PABEE against their official codes: the loss of one stage (value and gradients) and
the inference decisions, on the same weights (mapped as for SmartBERT), dropout off.

- DeeBERT, github castorini/DeeBERT (``transformers/modeling_highway_bert.py``, a transformers 2.x
  fork): the off-ramp stage (``train_highway=True``: the sum of off-ramps 1..L-1's CE) against ours
  (``baselines/deebert.py``, stage ``offramps``), gradients of the off-ramps (what that stage
  trains); inference with ``set_early_exit_entropy(S)`` at batch 1. The official code consults an
  off-ramp at the last layer too (never trained; README: ours uses BERT's classifier there): it is
  given our last head's weights, so its exit there answers what ours does.
- PABEE, github JetRunner/PABEE (``pabee/modeling_bert.py``, written against transformers ~2.x-3.0):
  its imports of ``transformers.activations``, ``configuration_bert``, ``file_utils`` and
  ``modeling_utils`` are redirected, in memory, to the SmartBERT checkout's vendored transformers
  2.x (its docstring decorators ``add_start_docstrings(_to_callable)`` replaced by no-ops); the file is not
  modified. The joint loss (weighted average of the layers' CE) and its gradients against ours with
  ``pooler: shared`` (``config/variants/pabee-official.yaml``), and the patience loop at batch 1.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from equivalence import official_code
from equivalence.compare import FP32, Check, compare_gradients, compare_scalar, summarise_gradients
from equivalence.mapping import Link, Mapping, check_mapping, copy_weights, our_gradients, their_gradients
from equivalence.smartbert_pair import Decision, Recorder, decision_checks, padded_example, sharpen, zero_dropout
from smartbert.data.encode import collate
from smartbert.inference.dynamic import predict_one
from smartbert.inference.record import record_trace
from smartbert.methods.registry import get_method
from smartbert.modeling.backbones import load_backbone, load_tokenizer
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.policies import EntropyExit, ExitPolicy, PatienceExit
from smartbert.replay.trace import replay


def vendored_config(bert_config_class: Any, ours: EarlyExitModel) -> Any:
    """A transformers-2.x ``BertConfig`` with our backbone's shape, dropout off."""
    hf = ours.encoder.config
    return bert_config_class(
        vocab_size_or_config_json_file=hf.vocab_size, hidden_size=hf.hidden_size, num_hidden_layers=hf.num_hidden_layers,
        num_attention_heads=hf.num_attention_heads, intermediate_size=hf.intermediate_size, hidden_act=hf.hidden_act,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=hf.max_position_embeddings,
        type_vocab_size=hf.type_vocab_size, layer_norm_eps=hf.layer_norm_eps, num_labels=ours.num_labels)


def backbone_links(ours: EarlyExitModel, prefix: str = "bert.") -> list[Link]:
    links = []
    for name, _ in ours.named_parameters():
        if name.startswith("encoder.embeddings."):
            links.append(Link(name, (prefix + name.removeprefix("encoder."),)))
        elif match := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", name):
            links.append(Link(name, (f"{prefix}encoder.layer.{match[1]}.{match[2]}",)))
    return links


def our_decisions(model: EarlyExitModel, examples: list[dict], policy: ExitPolicy) -> list[Decision]:
    """Batch 1 (``predict_one``) with each evaluated head's logits from the same walk."""
    out = []
    for x in examples:
        result = predict_one(model.eval(), x["input_ids"], x["token_type_ids"], policy, use_gates=False)
        steps = list(model.walk(x["input_ids"], x["token_type_ids"], None, False))[: result.exit_layer]
        out.append(Decision([], result.exit_layer, result.prediction, {s.layer: s.logits[0].clone() for s in steps}))
    return out


def replay_decisions(model: EarlyExitModel, data, policy: ExitPolicy) -> list[Decision]:
    trace = record_trace(model, data, batch_size=16, use_gates=False)
    outcome = replay(trace, policy)
    return [Decision([], int(outcome.exit_layer[i]), int(outcome.prediction[i]),
                     {k + 1: torch.from_numpy(trace.logits[i, k]) for k in range(int(outcome.exit_layer[i]))})
            for i in range(len(data))]


def our_stage_loss(stage: Any, model: EarlyExitModel, batch: dict) -> torch.Tensor:
    """A stage's loss of ours, in train mode (dropout is off)."""
    return stage.loss(model.train(), batch, 0)[0]


def official_loss(model: nn.Module, batch: dict, **options: Any) -> torch.Tensor:
    """An official ``BertForSequenceClassification``'s training loss (first output) in train mode."""
    return model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         token_type_ids=batch["token_type_ids"], labels=batch["labels"], **options)[0]


def without_gates(rows: list[Check]) -> list[Check]:
    """Decision rows of a method without gates: the gate-probability row says nothing (the skip row
    stays: it carries the exit-layer histogram and proves no layer was skipped)."""
    return [r for r in rows if not r.name.startswith("gate probabilities")]


def gradient_rows(group: str, mapping: Mapping, ours: nn.Module, theirs: nn.Module, ours_loss, theirs_loss,
                  keep=lambda name: True) -> list[Check]:
    ours.zero_grad(set_to_none=True)
    ours_loss().backward()
    mine = {k: v for k, v in our_gradients(ours).items() if keep(k)}
    theirs.zero_grad(set_to_none=True)
    theirs_loss().backward()
    other = their_gradients(mapping, theirs)
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    return compare_gradients(group, mine, {k: other[k] for k in mine}, FP32.grad)


# ---------------------------------------------------------------- DeeBERT


def deebert_mapping(ours: EarlyExitModel) -> Mapping:
    last = ours.num_layers
    links = backbone_links(ours)
    for name, _ in ours.named_parameters():
        if match := re.fullmatch(r"heads\.(\d+)\.(pooler|out)\.(\w+)", name):
            k, part, kind = int(match[1]), match[2], match[3]
            offramp = f"bert.encoder.highway.{k - 1}.{'pooler.dense' if part == 'pooler' else 'classifier'}.{kind}"
            if k < last:
                links.append(Link(name, (offramp,)))
            else:  # BERT's classifier; the official last off-ramp gets the same weights
                final = f"bert.pooler.dense.{kind}" if part == "pooler" else f"classifier.{kind}"
                links.append(Link(name, (final, offramp), "tied"))
    return Mapping(links)


def linked_pair(method, config, backbone: str, seed: int, official_class, official_config, mapping_of):
    """Our model of ``method`` (dropout off, exit heads sharpened as for SmartBERT) and the official
    model built from its config, every mapped parameter copied over: (ours, theirs, mapping, counts)."""
    torch.manual_seed(seed)
    ours = zero_dropout(method.build(load_backbone(backbone, seed), 2, config))
    sharpen(ours)  # these methods have no gates: only the heads' output weights are scaled
    theirs = zero_dropout(official_class(vendored_config(official_config, ours)))
    mapping = mapping_of(ours)
    counts = check_mapping(mapping, ours, theirs)
    copy_weights(mapping, ours, theirs)
    return ours, theirs, mapping, counts


def run_deebert(checkout: str, backbone: str, tasks_data: dict, seed: int) -> list[Check]:
    highway = official_code.import_from(checkout, "deebert_transformers", "transformers", "modeling_highway_bert")
    config_module = official_code.import_from(checkout, "deebert_transformers", "transformers", "configuration_bert")
    method = get_method("deebert")
    ours, theirs, mapping, counts = linked_pair(method, method.config_class(dropout=0.0), backbone, seed,
                                                highway.BertForSequenceClassification, config_module.BertConfig,
                                                deebert_mapping)
    stage = method.stages(method.config_class())[1]
    rows = [Check(f"DeeBERT {backbone}", "parameter mapping", counts["ours_parameters"], counts["theirs_linked_parameters"],
                  0.0, 0.0, counts)]
    for task, (batch, examples, dev) in tasks_data.items():
        group = f"DeeBERT {backbone} {task}"
        offramp = lambda name: name.startswith("heads.") and int(name.split(".")[1]) < ours.num_layers  # noqa: E731
        ours_loss = partial(our_stage_loss, stage, ours, batch)
        theirs_loss = partial(official_loss, theirs, batch, train_highway=True)
        with torch.no_grad():
            rows.append(compare_scalar(f"{group} off-ramp stage", "ce_sum", ours_loss(), theirs_loss(), FP32.loss))
        rows.append(summarise_gradients(gradient_rows(f"{group} off-ramp stage grad[ce_sum]", mapping, ours, theirs,
                                                      ours_loss, theirs_loss, offramp)))
        for threshold in (0.1, 0.3, 0.5):
            official = [deebert_decision(theirs, padded_example(x), threshold) for x in examples]
            rows += exit_rule_rows(f"{group} inference S={threshold:g}", ours, examples, dev, EntropyExit(threshold), official)
    return rows


def exit_rule_rows(where: str, ours, examples: list[dict], dev, policy, official: list[Decision]) -> list:
    """Our batch-1 and replay decisions under ``policy`` against the official code's, example by example."""
    return (without_gates(decision_checks(f"{where} batch-1", our_decisions(ours, examples, policy), official, FP32))
            + without_gates(decision_checks(f"{where} replay", replay_decisions(ours, dev, policy), official, FP32)))


def deebert_decision(model: nn.Module, example: dict, threshold: float) -> Decision:
    """``run_highway_glue.py``'s evaluation of one example: eval mode, ``set_early_exit_entropy(S)``."""
    model.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the threshold of every layer
        model.bert.encoder.set_early_exit_entropy(threshold)
    with Recorder(list(model.bert.encoder.highway)) as ramps, torch.no_grad():
        outputs = model(input_ids=example["input_ids"], attention_mask=example["attention_mask"],
                        token_type_ids=example["token_type_ids"])
    exit_layer, logits = int(outputs[-1]), outputs[0]
    heads = {k + 1: calls[0][0][0].clone() for k, calls in ramps.calls.items() if k + 1 < len(model.bert.encoder.highway)}
    heads[exit_layer if exit_layer < len(model.bert.encoder.highway) else len(model.bert.encoder.highway)] = logits[0].clone()
    return Decision([], exit_layer, int(logits[0].argmax()), heads)


# ---------------------------------------------------------------- PABEE


def load_pabee(pabee_checkout: str, smartbert_checkout: str) -> types.ModuleType:
    """JetRunner/PABEE's ``pabee/modeling_bert.py`` with its ``transformers.*`` imports redirected to
    the SmartBERT checkout's vendored transformers 2.x (module docstring)."""
    bert = official_code.import_from(smartbert_checkout, "official_transformers", "transformers", "modeling_bert")
    shim = types.ModuleType("pabee_transformers")
    shim.__path__ = []  # type: ignore[attr-defined]
    file_utils = types.ModuleType("pabee_transformers.file_utils")
    keep = lambda *docstrings: (lambda fn: fn)  # noqa: E731 - docstring decorators, no behaviour
    file_utils.add_start_docstrings = file_utils.add_start_docstrings_to_callable = keep  # type: ignore[attr-defined]
    activations = types.ModuleType("pabee_transformers.activations")
    activations.gelu, activations.gelu_new, activations.swish = bert.gelu, bert.gelu_new, bert.swish  # type: ignore[attr-defined]
    modules = {"pabee_transformers": shim, "pabee_transformers.file_utils": file_utils,
               "pabee_transformers.activations": activations,
               "pabee_transformers.configuration_bert": sys.modules["official_transformers.configuration_bert"],
               "pabee_transformers.modeling_utils": sys.modules["official_transformers.modeling_utils"]}
    sys.modules.update(modules)
    source = (Path(pabee_checkout) / "pabee" / "modeling_bert.py").read_text()
    module = types.ModuleType("pabee_modeling_bert")
    module.__file__ = str(Path(pabee_checkout) / "pabee" / "modeling_bert.py")
    exec(compile(source.replace("from transformers.", "from pabee_transformers."), module.__file__, "exec"), module.__dict__)
    return module


def pabee_mapping(ours: EarlyExitModel) -> Mapping:
    links = backbone_links(ours)
    for name, _ in ours.named_parameters():
        if match := re.fullmatch(r"heads\.(\d+)\.(pooler|out)\.(\w+)", name):
            k, part, kind = int(match[1]), match[2], match[3]
            links.append(Link(name, (f"bert.pooler.dense.{kind}",) if part == "pooler" else (f"classifiers.{k - 1}.{kind}",)))
    return Mapping(links)


def run_pabee(pabee_checkout: str, smartbert_checkout: str, backbone: str, tasks_data: dict, seed: int) -> list[Check]:
    pabee = load_pabee(pabee_checkout, smartbert_checkout)
    method = get_method("pabee")
    config = method.config_class(pooler="shared", dropout=0.0)
    ours, theirs, mapping, counts = linked_pair(method, config, backbone, seed, pabee.BertForSequenceClassification,
                                                pabee.BertConfig, pabee_mapping)
    stage = method.stages(config)[0]
    rows = [Check(f"PABEE {backbone}", "parameter mapping", counts["ours_parameters"], counts["theirs_linked_parameters"],
                  0.0, 0.0, counts)]
    for task, (batch, examples, dev) in tasks_data.items():
        group = f"PABEE {backbone} {task}"
        ours_loss = partial(our_stage_loss, stage, ours, batch)
        theirs_loss = partial(official_loss, theirs, batch)
        with torch.no_grad():
            rows.append(compare_scalar(f"{group} joint stage", "weighted_ce", ours_loss(), theirs_loss(), FP32.loss))
        rows.append(summarise_gradients(gradient_rows(f"{group} joint stage grad[weighted_ce]", mapping, ours, theirs,
                                                      ours_loss, theirs_loss)))
        for patience in (1, 2, 3):
            official = [pabee_decision(theirs, padded_example(x), patience) for x in examples]
            rows += exit_rule_rows(f"{group} inference patience={patience}", ours, examples, dev, PatienceExit(patience), official)
    return rows


def pabee_decision(model: nn.Module, example: dict, patience: int) -> Decision:
    """The official patience loop on one example (eval mode, ``set_patience``)."""
    model.eval()
    model.bert.set_patience(patience)
    model.bert.reset_stats()
    with Recorder(list(model.classifiers)) as heads, torch.no_grad():
        logits = model(input_ids=example["input_ids"], attention_mask=example["attention_mask"],
                       token_type_ids=example["token_type_ids"])[0]
    exit_layer = int(model.bert.inference_layers_num)
    return Decision([], exit_layer, int(logits[0].argmax()), {k + 1: calls[0][0][0].clone() for k, calls in heads.calls.items()})


# ---------------------------------------------------------------- both


def task_data(backbone: str, tasks: list[str], glue_dir: str, batch_size: int, examples: int) -> dict:
    from official_equivalence import encoded

    tokenizer = load_tokenizer(backbone)
    out = {}
    for task in tasks:
        train = encoded(task, "train", batch_size, tokenizer, glue_dir)
        dev = encoded(task, "dev", examples, tokenizer, glue_dir)
        out[task] = (padded_example(collate(train, list(range(batch_size)))), [collate(dev, [i]) for i in range(len(dev))], dev)
    return out


def run_baselines(args) -> dict:
    """Rows for every backbone and task, per method; a method whose checkout is not given is skipped."""
    result: dict = {}
    for backbone in args.backbones:
        data = task_data(backbone, args.tasks, args.glue_dir, args.batch, args.examples)
        if args.deebert:
            result.setdefault("deebert", {"commit": official_code.git_commit(args.deebert), "checks": []})
            result["deebert"]["checks"] += [r.row() for r in run_deebert(args.deebert, backbone, data, args.seed)]
        if args.pabee:
            result.setdefault("pabee", {"commit": official_code.git_commit(args.pabee), "checks": []})
            result["pabee"]["checks"] += [r.row() for r in run_pabee(args.pabee, args.official, backbone, data, args.seed)]
    return result
