"""Exit thresholds chosen with a statistical guarantee, from one trace (NumPy only).

A user asks: at which threshold can I ship this model so that it loses at most ε against running
every layer, and what does it then cost? Replay answers it cheaply: every threshold's exits on a
calibration split follow from one trace (:mod:`smartbert.replay.trace`).

The grid is ordered from the most conservative threshold (never exits early: index 0) to the most
aggressive, by the rule's own :attr:`~smartbert.replay.policies.ExitPolicy.eager_when_larger`. The
reference is the model's own full path (the last head, after whatever its gates skip), so both losses
below are 0 at index 0 for every example: shipping index 0 when nothing is certified is always safe.

Procedures (each a :class:`Procedure`, registered in :data:`PROCEDURES`):

- ``ltt``: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei, 2021) with Hoeffding-Bentkus
  p-values (Bates et al., 2021, "Distribution-free, risk-controlling prediction sets", Prop. 5) and
  fixed-sequence testing from the most conservative threshold (as CALM, Schuster et al., 2022):
  P(R(λ̂) > ε) ≤ δ.
- ``crc``: conformal risk control (Angelopoulos, Bates, Fisch, Lei, Schuster, 2022, Thm. 1) on the
  loss made monotone in aggressiveness (their Sec. 4 for non-monotone losses; Jazbec et al., 2024,
  "Fast yet Safe: Early-Exiting with Risk Control"): E[R(λ̂)] ≤ ε.
- ``empirical``: the most aggressive threshold whose calibration risk is at most ε, what picking on
  dev does. No guarantee: the validity tests show it failing.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from smartbert.core.errors import SmartBertError, UnknownNameError
from smartbert.data.metrics import compute_metrics
from smartbert.data.tasks import get_task
from smartbert.replay.cost import ComponentCosts
from smartbert.replay.policies import NoExit, make_policy, policy_class
from smartbert.replay.sweep import example_costs, provenance_columns
from smartbert.replay.trace import Replay, Trace, replay

# ---- losses: per example, in [0, 1], 0 at the full path --------------------------------------------


def disagreement(exit_prediction: np.ndarray, full_prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 where the exit's prediction differs from the full path's (CATs' consistency, Schuster et al. 2021)."""
    return (exit_prediction != full_prediction).astype(np.float64)


def harm(exit_prediction: np.ndarray, full_prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 where the exit is wrong and the full path is right (the accuracy an early exit costs)."""
    return ((exit_prediction != labels) & (full_prediction == labels)).astype(np.float64)


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "disagreement": disagreement,
    "harm": harm,
}
#: What each loss's risk is, as the report and the claim say it.
LOSS_MEANINGS = {
    "disagreement": "the share of examples where the exit's prediction differs from the model's own full path",
    "harm": "the share of examples the exit gets wrong where the model's own full path gets them right",
}


def loss_meaning(names: Sequence[str]) -> str:
    """What the risk of the losses ``names`` (one, normally) measures."""
    return "; ".join(f"{name}: {LOSS_MEANINGS.get(name, name)}" for name in dict.fromkeys(names)) or LOSS_MEANINGS["disagreement"]


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise UnknownNameError("calibration loss", name, list(LOSSES))
    return name


# ---- one trace's losses and costs at every threshold ------------------------------------------------


@dataclass(frozen=True)
class RiskTable:
    """Per example and threshold, the prediction, the loss and the cost, thresholds ordered conservative
    -> aggressive; and the full path's prediction the loss is measured against."""

    thresholds: np.ndarray   # [K]
    predictions: np.ndarray  # [N, K] the exit's prediction
    losses: np.ndarray       # [N, K] in [0, 1]
    cost_pct: np.ndarray     # [N, K] FLOPs % of the full-depth reference (paper convention)
    full_prediction: np.ndarray  # [N] the full path's (the last head, after the gates' skips)

    @property
    def num_examples(self) -> int:
        return int(self.losses.shape[0])


def risk_table(trace: Trace, example_cost_pct: Callable[[Replay], np.ndarray], policy: str | None = None,
               loss: str = "disagreement", thresholds: Sequence[float] | None = None) -> RiskTable:
    """The losses and costs of ``policy`` (default: the method's own) over ``thresholds`` (default: its
    dense grid) on ``trace``; ``example_cost_pct`` turns a replay into per-example cost %."""
    policy = policy or trace.meta.default_policy
    kind = policy_class(policy)
    if kind.is_static():
        raise SmartBertError(f"exit policy {policy!r} takes no threshold: there is nothing to calibrate")
    ordered = kind.by_aggressiveness(kind.grid if thresholds is None else thresholds)
    full = replay(trace, NoExit()).prediction
    loss_of = LOSSES[check_loss(loss)]
    outcomes = [replay(trace, make_policy(policy, value)) for value in ordered]
    return RiskTable(
        thresholds=np.array(ordered, dtype=np.float64),
        predictions=np.stack([r.prediction for r in outcomes], axis=1),
        losses=np.stack([loss_of(r.prediction, full, trace.labels) for r in outcomes], axis=1),
        cost_pct=np.stack([example_cost_pct(r) for r in outcomes], axis=1).astype(np.float64),
        full_prediction=full,
    )


# ---- the procedures --------------------------------------------------------------------------------


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k), summed exactly in log space."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(k + 1)
    log_terms = (math.lgamma(n + 1) - np.array([math.lgamma(j + 1) + math.lgamma(n - j + 1) for j in i])
                 + i * math.log(p) + (n - i) * math.log1p(-p))
    top = log_terms.max()
    return float(min(1.0, math.exp(top) * np.exp(log_terms - top).sum()))


def loss_total(risk: float, n: int) -> float:
    """The summed loss n R̂, snapped to the nearest integer where it is one up to float rounding (a mean
    of 0/1 losses times n is k only up to a relative 1e-16 or so, and ⌈k + 1e-13⌉ would be k + 1)."""
    total = n * float(risk)
    return float(round(total)) if abs(total - round(total)) <= 1e-9 * max(1.0, total) else total


def hoeffding_bentkus_pvalue(risk: float, n: int, epsilon: float) -> float:
    """p-value of H0: R > ε from an empirical risk of a [0, 1] loss over n examples (Bates et al.
    2021, Prop. 5): min(exp(-n h(min(R̂, ε), ε)), e · P(Binomial(n, ε) <= ⌈n R̂⌉)), with
    h(a, b) = a ln(a/b) + (1 - a) ln((1 - a)/(1 - b))."""
    total = loss_total(risk, n)
    a = min(total / n if n else 1.0, epsilon)
    h = (a * math.log(a / epsilon) if a > 0 else 0.0) + (1 - a) * math.log((1 - a) / (1 - epsilon))
    hoeffding = math.exp(-n * h)
    bentkus = math.e * binomial_cdf(math.ceil(total), n, epsilon)
    return min(1.0, hoeffding, bentkus)


@dataclass(frozen=True)
class Choice:
    """A procedure's pick: the index into the ordered grid, and whether the procedure certified it
    (False: nothing was, and index 0, the full path, is shipped)."""

    index: int
    certified: bool


@dataclass(frozen=True)
class CalibrationRisk:
    """What the procedures read of a calibration split: its size, each threshold's empirical risk, and
    the empirical risk of the loss made monotone in aggressiveness (L̃_i(λ_k) = max_{j <= k} L_i(λ_j))."""

    n: int
    risk: np.ndarray       # [K]
    monotone: np.ndarray   # [K]

    @classmethod
    def of(cls, losses: np.ndarray) -> CalibrationRisk:
        """From per-example losses [n, K] (thresholds conservative -> aggressive)."""
        return cls(int(losses.shape[0]), losses.mean(axis=0), np.maximum.accumulate(losses, axis=1).mean(axis=0))


class Procedure(ABC):
    """Picks the most aggressive threshold its guarantee allows from a calibration split."""

    name: ClassVar[str]
    guarantee: ClassVar[str]   # what it bounds, as the report states it

    @abstractmethod
    def choose_from(self, found: CalibrationRisk, epsilon: float, delta: float) -> Choice:
        """The pick from a calibration split's risks."""

    def choose(self, losses: np.ndarray, epsilon: float, delta: float) -> Choice:
        """The pick from per-example losses [n, K] (thresholds conservative -> aggressive)."""
        return self.choose_from(CalibrationRisk.of(losses), epsilon, delta)


class LearnThenTest(Procedure):
    """Fixed-sequence testing of H0(λ_k): R(λ_k) > ε from k = 0 on, each with its Hoeffding-Bentkus
    p-value, stopping at the first p > δ: the family-wise error is at most δ, so P(R(λ̂) > ε) ≤ δ
    (Angelopoulos et al. 2021, Prop. 3 with fixed-sequence testing)."""

    name = "ltt"
    guarantee = "P(risk > eps) <= delta"

    def choose_from(self, found: CalibrationRisk, epsilon: float, delta: float) -> Choice:
        chosen = -1
        for k, risk in enumerate(found.risk):
            if _pvalue(loss_total(risk, found.n), found.n, epsilon) > delta:
                break
            chosen = k
        return Choice(max(chosen, 0), chosen >= 0)


@functools.lru_cache(maxsize=65536)
def _pvalue(total: float, n: int, epsilon: float) -> float:
    """Cached on the summed loss: splits of one size share their few distinct totals."""
    return hoeffding_bentkus_pvalue(total / n, n, epsilon)


class ConformalRiskControl(Procedure):
    """The most aggressive λ_k with (n R̃(λ_k) + B) / (n + 1) <= ε, i.e. R̃(λ_k) <= ((n + 1) ε - B) / n,
    for the loss made monotone, L̃_i(λ_k) = max_{j <= k} L_i(λ_j) >= L_i(λ_k), and B = 1 (Angelopoulos
    et al. 2022, Thm. 1): E[R(λ̂)] <= E[R̃(λ̂)] <= ε."""

    name = "crc"
    guarantee = "E[risk] <= eps"
    bound = 1.0  # B: the loss lies in [0, B]

    def choose_from(self, found: CalibrationRisk, epsilon: float, delta: float) -> Choice:
        n = found.n
        allowed = np.flatnonzero(found.monotone <= ((n + 1) * epsilon - self.bound) / n + 1e-12)
        # monotone risk: the allowed thresholds are a prefix of the grid
        return Choice(int(allowed[-1]), True) if allowed.size else Choice(0, False)


class EmpiricalRisk(Procedure):
    """The most aggressive λ_k whose calibration risk is at most ε: no guarantee (what a threshold
    picked on dev gives; kept to show that it fails the validity check)."""

    name = "empirical"
    guarantee = "none"

    def choose_from(self, found: CalibrationRisk, epsilon: float, delta: float) -> Choice:
        allowed = np.flatnonzero(found.risk <= epsilon + 1e-12)
        return Choice(int(allowed[-1]), True) if allowed.size else Choice(0, False)


PROCEDURES: dict[str, type[Procedure]] = {cls.name: cls for cls in (LearnThenTest, ConformalRiskControl, EmpiricalRisk)}


def procedure(name: str) -> Procedure:
    if name not in PROCEDURES:
        raise UnknownNameError("calibration procedure", name, list(PROCEDURES))
    return PROCEDURES[name]()


def check_levels(epsilons: Sequence[float], delta: float) -> None:
    """ε in (0, 1) each and δ in (0, 1), with a one-line error naming the bad value."""
    for eps in epsilons:
        if not (isinstance(eps, (int, float)) and 0.0 < eps < 1.0):
            raise SmartBertError(f"risk level epsilon must lie in (0, 1) (0.01 = 1 point), got {eps!r}")
    if not (isinstance(delta, (int, float)) and 0.0 < delta < 1.0):
        raise SmartBertError(f"error rate delta must lie in (0, 1) (e.g. 0.1), got {delta!r}")


# ---- shipping, and checking by random splits ---------------------------------------------------------


@dataclass(frozen=True)
class Trials:
    """One procedure at one (ε, δ) over random calibration/test splits of a trace.

    Two checks of the guarantee, with dev as the population the halves are drawn from: LTT's event
    is the chosen threshold's risk on all of dev exceeding ε (:meth:`violation_rate`: at most δ of
    the trials); CRC's is the mean test-half risk (at most ε). A test half's own risk over ε
    (:meth:`test_violation_rate`) adds the half's sampling noise: it exceeds ε more often than δ
    even where the population risk is below ε."""

    index: np.ndarray        # [T] the grid position chosen on each calibration half
    thresholds: np.ndarray   # [T] the threshold chosen on each calibration half
    certified: np.ndarray    # [T] bool
    test_risk: np.ndarray    # [T] the (unmodified) loss's mean on the test half
    dev_risk: np.ndarray     # [T] the chosen threshold's risk on all of dev (the population)
    test_cost_pct: np.ndarray  # [T]

    def violation_rate(self, epsilon: float) -> float:
        """Share of trials whose pick has a risk over ε on all of dev (LTT bounds it by δ)."""
        return float((self.dev_risk > epsilon + 1e-12).mean())

    def test_violation_rate(self, epsilon: float) -> float:
        """Share of trials whose pick has a risk over ε on its test half (noisier than the guarantee)."""
        return float((self.test_risk > epsilon + 1e-12).mean())

    def median_threshold(self) -> float:
        """The threshold at the median grid position of the picks (the lower one of an even count:
        always a threshold of the grid)."""
        return float(self.thresholds[np.argsort(self.index, kind="stable")[(len(self.index) - 1) // 2]])


def split_indices(n: int, trials: int, seed: int, calibration_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``trials`` random splits of n examples: [T, n_cal] calibration and [T, n - n_cal] test indices."""
    n_cal = int(round(n * calibration_fraction))
    if not 1 <= n_cal < n:
        raise SmartBertError(f"a calibration split of {calibration_fraction} leaves no calibration or no test example "
                             f"of {n}; give a fraction in (0, 1) and a split with more examples")
    generator = np.random.default_rng(seed)
    order = np.argsort(generator.random((trials, n)), axis=1)
    return order[:, :n_cal], order[:, n_cal:]


@dataclass(frozen=True)
class Splits:
    """Random calibration/test splits of one risk table, with what every procedure reads of each
    calibration half (computed once, whatever the procedure and ε)."""

    calibration: np.ndarray          # [T, n_cal] indices
    test: np.ndarray                 # [T, N - n_cal] indices
    risks: list[CalibrationRisk]     # [T]
    dev_risk: np.ndarray             # [K] each threshold's risk on all of dev (the population of the halves)

    @classmethod
    def of(cls, table: RiskTable, trials: int, seed: int = 0, calibration_fraction: float = 0.5) -> Splits:
        calibration, test = split_indices(table.num_examples, trials, seed, calibration_fraction)
        monotone = np.maximum.accumulate(table.losses, axis=1)
        # one half at a time: memory stays N x K
        risks = [CalibrationRisk(len(rows), table.losses[rows].mean(axis=0), monotone[rows].mean(axis=0)) for rows in calibration]
        return cls(calibration, test, risks, table.losses.mean(axis=0))


def run_trials(table: RiskTable, rule: Procedure, epsilon: float, delta: float, splits: Splits) -> Trials:
    """``rule`` chosen on each calibration half of ``splits``, judged on the other half."""
    picks = [rule.choose_from(found, epsilon, delta) for found in splits.risks]
    index = np.array([p.index for p in picks])

    def on_test(values: np.ndarray) -> np.ndarray:
        return np.array([values[rows, k].mean() for rows, k in zip(splits.test, index)], dtype=np.float64)

    return Trials(index=index, thresholds=table.thresholds[index], certified=np.array([p.certified for p in picks]),
                  test_risk=on_test(table.losses), dev_risk=splits.dev_risk[index],
                  test_cost_pct=on_test(table.cost_pct))


def at_epsilons(rows: pd.DataFrame, epsilons: Sequence[float]) -> pd.DataFrame:
    """The rows of calibration tables (:func:`calibration_rows`, as written or read back) at one of ``epsilons``."""
    return rows[rows["epsilon"].apply(lambda e: any(abs(e - x) < 1e-9 for x in epsilons))]


def calibration_rows(trace: Trace, costs: ComponentCosts, epsilons: Sequence[float], delta: float = 0.1,
                     procedures: Sequence[str] = tuple(PROCEDURES), loss: str = "disagreement", trials: int = 500,
                     seed: int = 0, reference_layers: int | None = None) -> pd.DataFrame:
    """Per procedure and ε: the threshold it ships when calibrated on the whole split (with its cost and
    metric there), and over ``trials`` random halves, what it chose on one half and what that gave on
    the other: the mean and spread of the cost, the mean risk, and the share of picks over ε on all of
    dev (the guarantee's event, :class:`Trials`) and on their test half."""
    check_levels(epsilons, delta)
    rules = [procedure(name) for name in procedures]
    spec = get_task(trace.meta.task)
    reference = costs.reference_cost("paper", int(reference_layers or trace.meta.reference_layers or trace.num_layers))

    def cost_pct(result: Replay) -> np.ndarray:
        return 100.0 * example_costs(result, costs, trace.meta.head_kind, "paper") / reference

    table = risk_table(trace, cost_pct, loss=loss)
    splits = Splits.of(table, trials, seed)
    whole = CalibrationRisk.of(table.losses)  # the whole split calibrates the threshold shipped

    def metric(prediction: np.ndarray) -> float:
        return compute_metrics(spec, prediction, trace.labels)["metric"]

    full_metric = metric(table.full_prediction)
    origin, rows = provenance_columns(trace), []
    for rule in rules:
        for epsilon in sorted(set(epsilons)):
            shipped = rule.choose_from(whole, epsilon, delta)
            found = run_trials(table, rule, epsilon, delta, splits)
            rows.append({
                "method": trace.meta.method, "label": trace.meta.label, "task": trace.meta.task,
                "policy": trace.meta.default_policy, "loss": loss, "procedure": rule.name, "guarantee": rule.guarantee,
                "epsilon": epsilon, "delta": delta, "threshold": float(table.thresholds[shipped.index]),
                "certified": shipped.certified, "metric": metric(table.predictions[:, shipped.index]), "full_metric": full_metric,
                "cost_pct": float(table.cost_pct[:, shipped.index].mean()),
                "risk": float(table.losses[:, shipped.index].mean()), "n": table.num_examples,
                "trials": trials, "calibration_n": splits.calibration.shape[1],
                "trial_threshold_median": found.median_threshold(),
                "trial_certified_rate": float(found.certified.mean()),
                "trial_cost_pct_mean": float(found.test_cost_pct.mean()),
                "trial_cost_pct_std": float(found.test_cost_pct.std()),
                "trial_risk_mean": float(found.test_risk.mean()),
                "trial_violation_rate": found.violation_rate(epsilon),
                "trial_test_violation_rate": found.test_violation_rate(epsilon),
                **origin,
            })
    return pd.DataFrame(rows)
