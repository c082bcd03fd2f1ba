"""Calibrated thresholds (smartbert.replay.calibrate): the grid's order from each rule's definition,
the p-values against their formulas, and validity: where the risk curve is known, Learn-then-Test
exceeds ε on at most δ of the draws and conformal risk control keeps the mean risk under ε, while
picking the empirical-risk threshold fails both (each check's Monte-Carlo noise is stated); and the
same checks on the published runs' real dev traces (quick, and cpu-full where BERT learned its tasks),
split at random into calibration and test halves, where the empirical pick fails them too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from smartbert.core.errors import SmartBertError, UnknownNameError
from smartbert.replay.calibrate import (
    PROCEDURES,
    RiskTable,
    Splits,
    binomial_cdf,
    check_levels,
    hoeffding_bentkus_pvalue,
    procedure,
    risk_table,
    run_trials,
    split_indices,
)
from smartbert.replay.policies import POLICIES
from smartbert.replay.trace import Trace, TraceMeta, replay
from tests.helpers import REPO

EPSILON, DELTA = 0.05, 0.1


def random_trace(seed: int, n: int = 300, layers: int = 6, classes: int = 3) -> Trace:
    rng = np.random.default_rng(seed)
    ran = rng.random((n, layers)) > 0.2
    evaluated = ran.copy()
    evaluated[:, -1] = True
    logits = np.where(evaluated[..., None], rng.normal(0, 2.5, (n, layers, classes)), np.nan).astype(np.float32)
    return Trace(rng.integers(0, classes, n), ran, evaluated, logits, np.full((n, layers), np.nan, np.float32),
                 np.full(n, 8), TraceMeta(num_layers=layers, num_labels=classes, head_kind="exit_classifier",
                                          exit_layers=list(range(1, layers + 1)), default_policy="entropy", task="MNLI"))


@pytest.mark.parametrize("name", [name for name, cls in POLICIES.items() if not cls.is_static()])
def test_every_rule_exits_no_later_as_its_threshold_grows_more_aggressive(name: str) -> None:
    cls = POLICIES[name]
    ordered = cls.by_aggressiveness(cls.grid)
    assert [float(v) for v in cls.grid] == ordered, f"{name}'s grid is not listed from conservative to aggressive"
    trace = random_trace(seed=3)
    exits = [replay(trace, cls(value)).exit_layer for value in ordered]  # type: ignore[call-arg]
    for conservative, aggressive in zip(exits, exits[1:]):
        assert (aggressive <= conservative).all()
    assert (exits[0] == trace.num_layers).all(), "the most conservative threshold must never exit early"
    assert (exits[-1] < exits[0]).any()


def test_binomial_cdf_matches_scipy() -> None:
    for k, n, p in [(0, 10, 0.1), (3, 10, 0.1), (12, 400, 0.05), (150, 300, 0.5), (9, 9, 0.3), (-1, 5, 0.2)]:
        assert binomial_cdf(k, n, p) == pytest.approx(scipy.stats.binom.cdf(k, n, p), rel=1e-9, abs=1e-300)


def test_hoeffding_bentkus_pvalue_is_the_smaller_of_its_two_bounds() -> None:
    n, eps = 200, 0.05
    for risk in (0.0, 0.01, 0.03, 0.05, 0.2):
        a = min(risk, eps)
        h = (a * math.log(a / eps) if a else 0.0) + (1 - a) * math.log((1 - a) / (1 - eps))
        expected = min(1.0, math.exp(-n * h), math.e * scipy.stats.binom.cdf(math.ceil(n * risk), n, eps))
        assert hoeffding_bentkus_pvalue(risk, n, eps) == pytest.approx(expected, rel=1e-9)
    assert hoeffding_bentkus_pvalue(0.0, n, eps) == pytest.approx((1 - eps) ** n)  # Hoeffding's side at R = 0
    assert hoeffding_bentkus_pvalue(0.2, n, eps) == 1.0
    # a [0, 1] loss whose sum is not a whole number: the binomial term counts ceil(n R) = 7 of 200, not 6
    found = hoeffding_bentkus_pvalue(6.5 / 200, n, 0.07)
    assert found == pytest.approx(min(0.06980436, math.e * scipy.stats.binom.cdf(7, n, 0.07)), rel=1e-6)
    assert found > 2 * math.e * scipy.stats.binom.cdf(6, n, 0.07)


def test_the_bentkus_term_counts_k_losses_as_k_whatever_the_float_rounding() -> None:
    """k 0/1 losses over n examples as a mean, k/n, is k only up to rounding; ceil(n * (k/n)) must not become k + 1.
    At these n the Bentkus term decides the p-value, and k + 1 would make it larger (a safe but needless loss
    of power on large dev sets: MNLI, QQP, QNLI)."""
    eps, wrong = 0.05, 0
    for n in (5463, 9815, 40430):
        for k in range(0, n // 20, 41):
            risk = np.concatenate([np.ones(k), np.zeros(n - k)]).mean()  # as the procedures get it
            expected = min(1.0, math.e * scipy.stats.binom.cdf(k, n, eps))
            found = hoeffding_bentkus_pvalue(float(risk), n, eps)
            wrong += found > expected * (1 + 1e-6) + 1e-300
    assert wrong == 0


def known_risk_losses(rng: np.random.Generator, n: int, risks: np.ndarray) -> np.ndarray:
    """n fresh examples whose loss at threshold k is 1 with probability risks[k] (nested: one uniform per example)."""
    return (rng.random(n)[:, None] < risks[None, :]).astype(np.float64)


RISKS = np.linspace(0.0, 0.12, 49)  # the true risk of each threshold, conservative -> aggressive
DRAWS, N_CAL = 1500, 300


def chosen_true_risks(name: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    rule = procedure(name)
    return np.array([RISKS[rule.choose(known_risk_losses(rng, N_CAL, RISKS), EPSILON, DELTA).index] for _ in range(DRAWS)])


def violation_bound() -> float:
    """δ plus three binomial standard errors of a rate estimated from DRAWS draws."""
    return DELTA + 3 * math.sqrt(DELTA * (1 - DELTA) / DRAWS)


def test_learn_then_test_exceeds_epsilon_on_at_most_delta_of_the_draws() -> None:
    risks = chosen_true_risks("ltt")
    assert (risks > EPSILON).mean() <= violation_bound()
    assert risks.mean() > 0.02, "it must still pick thresholds that exit early"


def test_conformal_risk_control_keeps_the_mean_risk_under_epsilon() -> None:
    risks = chosen_true_risks("crc")
    assert risks.mean() <= EPSILON + 3 * risks.std() / math.sqrt(DRAWS)
    assert risks.mean() > 0.03


def test_the_empirical_risk_threshold_fails_both_checks() -> None:
    risks = chosen_true_risks("empirical")
    assert (risks > EPSILON).mean() > violation_bound() + 0.2
    assert risks.mean() > EPSILON + 3 * risks.std() / math.sqrt(DRAWS)


def test_nothing_certified_ships_the_full_path() -> None:
    losses = np.ones((50, 5))
    losses[:, 0] = 0.0
    for name in ("ltt", "crc"):  # 50 examples cannot certify 1% (Hoeffding: 0.99^50 = 0.6; CRC: 51 * 0.01 < 1)
        choice = procedure(name).choose(losses, 0.01, DELTA)
        assert (choice.index, choice.certified) == (0, False)


def test_learn_then_test_stops_at_the_first_threshold_it_cannot_certify() -> None:
    n = 400
    risks_seen = [0.0, 0.0, 0.2, 0.0, 0.0]  # a bump: fixed-sequence testing never gets past it
    losses = np.zeros((n, len(risks_seen)))
    for k, risk in enumerate(risks_seen):
        losses[: int(risk * n), k] = 1.0
    assert procedure("ltt").choose(losses, EPSILON, DELTA).index == 1
    assert procedure("crc").choose(losses, EPSILON, DELTA).index == 1  # monotone: the bump stays counted
    assert procedure("empirical").choose(losses, EPSILON, DELTA).index == 4


def test_crc_bound_is_the_papers() -> None:
    n, eps = 99, 0.05
    allowed = ((n + 1) * eps - 1) / n  # 4 / 99
    losses = np.zeros((n, 3))
    losses[:4, 1] = 1.0   # risk 4/99: allowed
    losses[:5, 2] = 1.0   # 5/99: not
    assert procedure("crc").choose(losses, eps, DELTA).index == 1
    assert losses[:, 1].mean() == pytest.approx(allowed)


def test_risk_table_losses_against_the_full_path() -> None:
    trace = random_trace(seed=5)
    table = risk_table(trace, lambda r: r.layers_run * 10.0, loss="disagreement")
    full = replay(trace, POLICIES["none"]()).prediction
    assert (table.losses[:, 0] == 0).all()
    k = len(table.thresholds) - 1
    aggressive = replay(trace, POLICIES["entropy"](table.thresholds[k])).prediction
    assert table.losses[:, k].tolist() == (aggressive != full).astype(float).tolist()
    assert table.predictions[:, k].tolist() == aggressive.tolist() and table.full_prediction.tolist() == full.tolist()
    harm = risk_table(trace, lambda r: r.layers_run * 10.0, loss="harm")
    assert harm.losses[:, k].tolist() == ((aggressive != trace.labels) & (full == trace.labels)).astype(float).tolist()
    assert table.cost_pct[:, 0].tolist() == (replay(trace, POLICIES["entropy"](0.0)).layers_run * 10.0).tolist()


def test_trials_judge_each_half_by_the_other() -> None:
    losses = np.zeros((10, 2))
    losses[:, 1] = [1, 0] * 5
    table = RiskTable(np.array([0.0, 0.5]), np.zeros((10, 2), int), losses, np.tile([100.0, 50.0], (10, 1)), np.zeros(10, int))
    found = run_trials(table, procedure("empirical"), 0.99, DELTA, Splits.of(table, trials=20, seed=1))
    assert (found.thresholds == 0.5).all() and np.isclose(found.test_cost_pct, 50.0).all()
    calibration, test = split_indices(10, 20, seed=1)
    expected = np.array([losses[rows, 1].mean() for rows in test])
    assert found.test_risk.tolist() == expected.tolist()
    # the guarantee's event, dev as the population: the pick's risk on all ten examples (0.5) over eps
    assert (found.dev_risk == 0.5).all() and found.violation_rate(0.4) == 1.0 and found.violation_rate(0.5) == 0.0
    assert found.test_violation_rate(0.4) == float((expected > 0.4).mean())
    assert all(set(c).isdisjoint(t) and len(set(c) | set(t)) == 10 for c, t in zip(calibration, test))


def test_bad_levels_and_names_are_one_line_errors() -> None:
    with pytest.raises(SmartBertError, match="epsilon must lie in"):
        check_levels([0.0], 0.1)
    with pytest.raises(SmartBertError, match="delta must lie in"):
        check_levels([0.01], 1.5)
    with pytest.raises(UnknownNameError):
        procedure("conformal")
    with pytest.raises(SmartBertError, match="nothing to calibrate"):
        risk_table(random_trace(1), lambda r: r.layers_run * 1.0, policy="none")
    assert set(PROCEDURES) == {"ltt", "crc", "empirical"}


def published_traces(profile: str) -> list:
    """Every early-exit model's committed dev trace of a published run (default configuration, seed 1)."""
    return sorted(p for p in (REPO / "results" / profile / "traces").glob("*/*/default/seed1.npz")
                  if Trace.load(p).meta.default_policy != "none")


QUICK_TRACES = published_traces("quick")
CPU_FULL_TRACES = published_traces("cpu-full")
REAL_TRACES = QUICK_TRACES + CPU_FULL_TRACES
SPLITS = 200
REAL_EPSILONS = (0.01, 0.02, 0.05)


def split_bound() -> float:
    """δ plus three binomial standard errors of a rate estimated from SPLITS splits."""
    return DELTA + 3 * math.sqrt(DELTA * (1 - DELTA) / SPLITS)


@pytest.mark.parametrize("traces", [QUICK_TRACES, CPU_FULL_TRACES], ids=["quick", "cpu-full"])
def test_the_published_runs_traces_are_committed(traces) -> None:
    assert len(traces) == 20, "results/<run>/traces/ should hold the dev trace of every early-exit model (5 tasks x 4)"


@pytest.mark.parametrize("path", REAL_TRACES, ids=lambda p: f"{p.parts[-6]}-{p.parts[-4]}-{p.parts[-3]}")
def test_on_real_traces_split_in_halves_each_procedure_keeps_its_guarantee(path) -> None:
    """With dev as the population the halves are drawn from: Learn-then-Test's picks have a risk over ε on
    all of dev in at most δ of the splits (its guarantee's event); conformal risk control's mean test-half
    risk is at most ε. Both plus three standard errors of independent draws (the splits of one dev set
    overlap, so this allowance is, if anything, tight)."""
    table = risk_table(Trace.load(path), lambda r: r.layers_run * 1.0)
    splits = Splits.of(table, SPLITS, seed=0)
    for epsilon in REAL_EPSILONS:
        ltt = run_trials(table, procedure("ltt"), epsilon, DELTA, splits)
        assert ltt.violation_rate(epsilon) <= split_bound()
        crc = run_trials(table, procedure("crc"), epsilon, DELTA, splits)
        assert crc.test_risk.mean() <= epsilon + 3 * crc.test_risk.std() / math.sqrt(SPLITS) + 1e-12


def test_on_real_traces_the_empirical_pick_fails_the_same_check() -> None:
    failed = []
    for path in REAL_TRACES:
        table = risk_table(Trace.load(path), lambda r: r.layers_run * 1.0)
        splits = Splits.of(table, SPLITS, seed=0)
        for epsilon in REAL_EPSILONS:
            found = run_trials(table, procedure("empirical"), epsilon, DELTA, splits)
            if found.violation_rate(epsilon) > split_bound():
                failed.append((path.parts[-6], path.parts[-4], path.parts[-3], epsilon))
    assert len(failed) >= 3, failed
