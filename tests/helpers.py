"""What tests share beyond fixtures (imported as ``tests.helpers``): the repository's path, the tiny
random BERT, the environment a workflow subprocess needs, and what the equivalence tests of replay,
batch-1 and batched dynamic inference share (models, thresholds that split every batch, spies)."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smartbert.methods.registry import get_method
from smartbert.modeling import backbones
from smartbert.replay.policies import POLICIES, ExitPolicy, PatienceExit, make_policy, softmax_entropy
from smartbert.replay.trace import Replay, Trace, replay

REPO = Path(__file__).resolve().parent.parent
PAPER_DIR = REPO / "results" / "paper"


def tiny_bert(seed: int = 0):
    """The tiny random BERT backbone (4 layers of width 32)."""
    return backbones.load_backbone("tiny", seed=seed)


def workflow_env() -> dict[str, str]:
    """The environment for running Snakemake in a test: its rules call the `smartbert` command, which
    lives beside this Python (`make test` runs `.venv/bin/python` without activating `.venv`)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def trace_from_predictions(labels: list[int], predictions: list[list[int | None]], ran: list[list[int]] | None = None,
                           gates: bool = False, task: str = "SST-2", num_labels: int = 2,
                           head_kind: str = "exit_classifier", shape: dict[str, int] | None = None):
    """A hand-built trace: ``predictions[i][j]`` is the class example i's head j confidently predicts
    (logits 4.0 for it, 0.0 for the others: entropy ~0.09 nats) or None where no head was evaluated;
    ``ran`` which layers were computed (default: all). Imports lazily: the replay layer needs no torch."""
    import numpy as np

    from smartbert.replay.trace import Trace, TraceMeta

    n, layers = len(labels), len(predictions[0])
    classes = num_labels
    evaluated = np.array([[p is not None for p in row] for row in predictions])
    logits = np.full((n, layers, classes), np.nan, dtype=np.float32)
    for i, row in enumerate(predictions):
        for j, p in enumerate(row):
            if p is not None:
                logits[i, j] = 0.0
                logits[i, j, p] = 4.0
    ran_array = np.ones((n, layers), dtype=bool) if ran is None else np.array(ran, dtype=bool)
    meta = TraceMeta(num_layers=layers, num_labels=classes, head_kind=head_kind, exit_layers=list(range(1, layers + 1)),
                     has_gates=gates, task=task, method="test", label="Test", default_policy="entropy",
                     shape=shape or {"num_layers": layers, "hidden": 32, "heads": 2, "ffn": 64, "vocab_size": 100},
                     max_seq_len=16)
    return Trace(np.array(labels), ran_array, evaluated, logits, np.where(ran_array, 0.1, 0.9).astype(np.float32),
                 np.full(n, 8), meta)


# ---------------------------------------------------------------------------------------------
# Equivalence of replay, batch-1 and batched dynamic inference (tests/unit/methods/test_equivalence.py,
# the CUDA-vs-CPU variants, test_device.py): models, thresholds that split every batch, spies.

#: float noise between two paths that compute the same head (padding, batch size) on the CPU in float32
#: is about 1e-7 on the tiny models (an untrained model's scores spread over 1e-4): a decision nearer
#: than this to its threshold is a near tie, which the equivalence tests keep clear of
CPU_DECISION_MARGIN = 2e-6


def build_model(name: str, num_labels: int = 2, seed: int = 0, config: Any = None) -> Any:
    """An untrained model of the registered method ``name`` on the tiny backbone (its default config)."""
    method = get_method(name)
    torch.manual_seed(seed)
    return method.build(tiny_bert(seed), num_labels, config if config is not None else method.config_class())


def train_briefly(name: str, data: Any, steps: int = 40, config: Any = None, seed: int = 0) -> Any:
    """A model of ``name`` trained ``steps`` AdamW steps per stage on ``data`` (a toy separable task):
    each stage's own loss and parameters; a reused stage (DeeBERT's fine-tuned BERT) trains the whole
    model on the last head's cross-entropy, then runs its ``after_reuse``; teachers are the labels
    as logits. In eval mode."""
    from smartbert.data.encode import collate
    from smartbert.methods.registry import final_cross_entropy

    method = get_method(name)
    config = config if config is not None else method.config_class()
    model = build_model(name, seed=seed, config=config)
    for stage in method.stages(config):
        params = list(model.parameters()) if stage.reuse else list(dict.fromkeys(stage.trainable(model)))
        loss_fn = final_cross_entropy if stage.reuse else stage.loss
        optimizer = torch.optim.AdamW(params, lr=3e-3)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(steps):
            batch = collate(data, torch.randint(len(data), (16,), generator=generator).tolist())
            batch["teacher_logits"] = torch.nn.functional.one_hot(batch["labels"], model.num_labels).float() * 4 - 2
            loss, _ = loss_fn(model, batch, 0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if stage.reuse and stage.after_reuse is not None:
            stage.after_reuse(model)
    return model.eval()


def grid_middle(policy_name: str) -> float:
    """The middle of a policy's sweep grid (for a one-head model, whose outcome no threshold changes)."""
    grid = POLICIES[policy_name].grid
    return float(grid[len(grid) // 2])


def first_exit_heads(policy: ExitPolicy) -> int:
    """Evaluated heads an example needs before ``policy`` can let it out (patience p: p + 1)."""
    return int(policy.patience) + 1 if isinstance(policy, PatienceExit) else 1


def exit_kinds(result: Replay, num_layers: int, policy: ExitPolicy) -> np.ndarray:
    """[N] per example: 0 exits at the first head it could, 1 exits at a later one, 2 runs to the
    last layer (no exit fired)."""
    early = result.heads == first_exit_heads(policy)
    return np.where(result.exit_layer == num_layers, 2, np.where(early, 0, 1))


def policy_scores(trace: Trace, policy_name: str) -> np.ndarray:
    """[N, L] what a threshold policy compares with its threshold (NaN where no head was evaluated)."""
    entropy = softmax_entropy(trace.logits)
    return entropy / math.log(trace.logits.shape[-1]) if policy_name == "normalised_entropy" else entropy


def interleaved_by_kind(kinds: np.ndarray, lengths: np.ndarray, present: Sequence[int]) -> list[int]:
    """Rows of a pool ordered so that batched inference's batches (sorted by length, then position)
    cycle through the exit kinds ``present``: per length, as many rows of each kind as the rarest
    of them has there, in turns. Every run of ``len(present)`` consecutive rows holds each kind once."""
    chosen: list[int] = []
    for length in np.unique(lengths):
        by_kind = [np.flatnonzero((lengths == length) & (kinds == kind)).tolist() for kind in present]
        for turn in range(min(len(rows) for rows in by_kind)):
            chosen.extend(rows[turn] for rows in by_kind)
    return chosen


def mix_value(kinds: int, rows: int, min_rows: int) -> tuple[int, int, int]:
    """How much a mix of ``kinds`` exit kinds on ``rows`` rows exercises batched inference (one kind: nothing)."""
    return (kinds - 1) * min(rows, min_rows), kinds, rows


def mixing_threshold(trace: Trace, policy_name: str, margin: float = CPU_DECISION_MARGIN,
                     min_rows: int = 12) -> tuple[float, list[int], int]:
    """Chosen from the model's own trace of a pool of examples: a threshold of ``policy_name`` that
    no evaluated head's score lies within ``margin`` of, and rows of the pool
    (:func:`interleaved_by_kind`) on which every batch of 3 rows or more holds every kind of
    :func:`exit_kinds` that threshold gives; the threshold with the best :func:`mix_value`.
    Returns (threshold, rows, kinds): 3 kinds = rows that exit at their first head, at a later one
    and at the last layer."""
    if policy_name == "patience":
        candidates = [float(p) for p in range(1, trace.num_layers)]
    else:
        scores = np.unique(policy_scores(trace, policy_name)[:, :-1][trace.evaluated[:, :-1]])
        gaps = np.diff(scores)
        candidates = [float(s) for s in (scores[:-1] + gaps / 2)[gaps > 2 * margin]]
    best: tuple[float, list[int], int] = (float("nan"), [], 0)
    for threshold in candidates:
        policy = make_policy(policy_name, threshold)
        kinds = exit_kinds(replay(trace, policy), trace.num_layers, policy)
        present = np.unique(kinds).tolist()
        rows = interleaved_by_kind(kinds, trace.lengths, present)
        if mix_value(len(present), len(rows), min_rows) > mix_value(best[2], len(best[1]), min_rows):
            best = (threshold, rows, len(present))
    return best


def near_ties(trace: Trace, policy: ExitPolicy, margin: float) -> dict[str, int]:
    """How many decisions on ``trace`` lie within ``margin`` of flipping: gates (probability vs 0.5),
    threshold policies (score vs S), and for every policy the argmax (top-two logit gap) of each head."""
    from smartbert.replay.gates import GATE_THRESHOLD

    evaluated = trace.evaluated
    top2 = np.sort(np.nan_to_num(trace.logits[evaluated], nan=0.0), axis=-1)[:, -2:]
    ties = {"argmax": int((top2[:, 1] - top2[:, 0] < margin).sum())}
    if trace.has_gates:
        ties["gate"] = int((np.abs(trace.gate_prob - GATE_THRESHOLD) < margin).sum())
    if policy.name in ("entropy", "normalised_entropy"):
        threshold = policy.threshold  # type: ignore[attr-defined]  # both are dataclasses of their threshold
        ties["threshold"] = int((np.abs(policy_scores(trace, policy.name)[evaluated] - threshold) < margin).sum())
    return ties


class InferenceSpy:
    """Records what dynamic inference computed before it counted: wraps
    ``smartbert.inference.dynamic.resolve_exits`` (batch 1 calls it once per example on the prefix
    up to its exit; batched, once per run), so ``ran``, ``evaluated`` and the logits of each path
    can be compared with the trace's. Use as ``with InferenceSpy(monkeypatch) as spy: ...``."""

    def __init__(self, monkeypatch: Any) -> None:
        from smartbert.inference import dynamic

        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        original = dynamic.resolve_exits

        def spy(exit_mask: np.ndarray, ran: np.ndarray, evaluated: np.ndarray, logits: np.ndarray, has_gates: bool) -> Replay:
            self.calls.append((ran.copy(), evaluated.copy(), logits.copy()))
            return original(exit_mask, ran, evaluated, logits, has_gates)

        monkeypatch.setattr(dynamic, "resolve_exits", spy)

    def take(self, n: int, num_layers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ran [N, L], evaluated [N, L], logits [N, L, C]) of the calls since the last take, rows
        of batch-1 calls stacked in order, padded with False/NaN past each example's exit."""
        calls, self.calls = self.calls, []
        if len(calls) == 1 and calls[0][0].shape[0] == n and n != 1:
            return calls[0]
        assert len(calls) == n, f"{len(calls)} batch-1 results for {n} examples"
        classes = calls[0][2].shape[-1]
        ran, evaluated = np.zeros((n, num_layers), dtype=bool), np.zeros((n, num_layers), dtype=bool)
        logits = np.full((n, num_layers, classes), np.nan, dtype=np.float32)
        for row, (r, e, z) in enumerate(calls):
            width = r.shape[1]
            ran[row, :width], evaluated[row, :width], logits[row, :width] = r[0], e[0], z[0]
        return ran, evaluated, logits


def assert_same_outcome(expected: Replay, actual: Replay, what: str) -> None:
    """Every field of two :class:`Replay` results equal (exit layer, prediction, layers run, heads, gates)."""
    for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
        np.testing.assert_array_equal(getattr(actual, field), getattr(expected, field), err_msg=f"{what}: {field}")


def assert_same_computation(trace: Trace, policy: ExitPolicy, outcome: Replay, computed: tuple[np.ndarray, np.ndarray, np.ndarray],
                            what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """What a dynamic path computed (:meth:`InferenceSpy.take`) is the trace's up to each example's exit
    (the same layers ran, the heads ``policy`` reads were evaluated, their logits within
    ``atol``/``rtol``) and nothing after it."""
    ran, evaluated, logits = computed
    upto = np.arange(trace.num_layers)[None, :] < outcome.exit_layer[:, None]
    np.testing.assert_array_equal(ran, trace.ran & upto, err_msg=f"{what}: layers run")
    np.testing.assert_array_equal(evaluated, policy.heads_read(trace.evaluated) & upto, err_msg=f"{what}: heads evaluated")
    np.testing.assert_allclose(logits[evaluated], trace.logits[evaluated], atol=atol, rtol=rtol, err_msg=f"{what}: logits")
    assert np.isnan(logits[~evaluated]).all(), f"{what}: logits where no head was evaluated"


def clear_examples(trace: Trace, policy: ExitPolicy, logits_tolerance: float) -> np.ndarray:
    """[N] bool: examples none of whose decisions another device could flip when every logit and
    gate probability it computes is within ``logits_tolerance`` of ``trace``'s: each gate's
    probability is further than that from 0.5, each head's top two logits further apart than twice
    that, and (threshold rules) each head's score further from the threshold than the most that
    perturbation moves it (entropy: 2 ln C times the tolerance; normalised: 2 times)."""
    from smartbert.replay.gates import GATE_THRESHOLD

    clear = np.ones(trace.num_examples, dtype=bool)
    if trace.has_gates:
        clear &= (np.abs(trace.gate_prob - GATE_THRESHOLD) > logits_tolerance).all(axis=1)
    top2 = np.sort(np.nan_to_num(trace.logits, nan=0.0), axis=-1)[..., -2:]
    clear &= (~trace.evaluated | (top2[..., 1] - top2[..., 0] > 2 * logits_tolerance)).all(axis=1)
    if policy.name in ("entropy", "normalised_entropy"):
        score_tolerance = 2 * logits_tolerance * (math.log(trace.logits.shape[-1]) if policy.name == "entropy" else 1.0)
        threshold = policy.threshold  # type: ignore[attr-defined]  # both are dataclasses of their threshold
        distance = np.abs(np.nan_to_num(policy_scores(trace, policy.name), nan=np.inf) - threshold)
        clear &= (~trace.evaluated | (distance > score_tolerance)).all(axis=1)
    return clear


def assert_device_agrees_with_cpu(cpu_model: Any, model: Any, pool: Any, policy_name: str, logits_tolerance: float,
                                  batch_size: int = 12) -> None:
    """``model`` (a copy of ``cpu_model`` on another device) against the CPU, on examples of ``pool``
    chosen as the equivalence tests choose them: logits and gate probabilities within
    ``logits_tolerance`` of the CPU's wherever both computed them, the same layers run and heads
    evaluated, and, batch 1 and batched alike, the CPU replay's exit layer, prediction and counts for
    every example whose decisions are clear by that tolerance (:func:`clear_examples`; at least half)."""
    from smartbert.inference.dynamic import predict_batched, predict_dynamic
    from smartbert.inference.record import record_trace

    threshold, rows, _ = mixing_threshold(record_trace(cpu_model, pool, batch_size=100, meta={}), policy_name)
    data = pool.subset(rows[:24] if len(rows) >= 12 else range(24))
    if math.isnan(threshold):  # a one-head model: any threshold
        threshold = grid_middle(policy_name)
    policy = make_policy(policy_name, threshold)
    cpu, other = (record_trace(m, data, batch_size=16, meta={}) for m in (cpu_model, model))
    clear = clear_examples(cpu, policy, logits_tolerance)
    assert clear.mean() >= 0.5, f"only {clear.sum()} of {len(clear)} examples clear of a near tie at tolerance {logits_tolerance}"
    np.testing.assert_array_equal(other.ran[clear], cpu.ran[clear], err_msg="layers run (gate decisions)")
    np.testing.assert_array_equal(other.evaluated[clear], cpu.evaluated[clear], err_msg="heads evaluated")
    both = cpu.evaluated & clear[:, None]
    np.testing.assert_allclose(other.logits[both], cpu.logits[both], atol=logits_tolerance, rtol=0, err_msg="logits")
    gated = np.isfinite(cpu.gate_prob) & clear[:, None]
    np.testing.assert_allclose(other.gate_prob[gated], cpu.gate_prob[gated], atol=logits_tolerance, rtol=0, err_msg="gates")
    replayed = replay(cpu, policy)
    for what, result in (("batch 1", predict_dynamic(model, data, policy)),
                         ("batched", predict_batched(model, data, policy, batch_size=batch_size))):
        for field in ("exit_layer", "prediction", "layers_run", "heads", "gates"):
            np.testing.assert_array_equal(getattr(result, field)[clear], getattr(replayed, field)[clear],
                                          err_msg=f"{what} on {next(model.parameters()).device} vs CPU replay: {field}")
