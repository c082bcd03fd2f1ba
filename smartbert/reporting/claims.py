"""The paper's claims as fixed rules over aggregated sweeps, each verdict calibrated both ways.

Every rule is stated as the paper states its claim and was checked in both directions before any
run (tests/test_claims.py): the paper's own transcribed Tables 1-3 read "reproduced"; identical
curves, a curve shifted down by a clear margin and majority-class models read "not reproduced".
Never tuned to a result of this suite. Shared conventions:

- *minimal drop*: at most ``DROP`` points below BERT;
- *better at the same cost*: on the attainable curves (:mod:`smartbert.replay.curves`: best metric at equal
  or lower cost), the mean gap at the other model's points exceeds ``MARGIN`` points (plus, with
  several seeds, the seeds' mean standard deviation); a gap within the margin is a tie, never a win;
- a task on which BERT is at or below the majority class cannot test a claim and is not counted; a
  point at or below the majority class is evidence for no one (neither curve counts it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from smartbert.core.names import BERT, DEFAULT_VARIANT, SKIP_ONLY, SMARTBERT
from smartbert.replay.calibrate import at_epsilons, loss_meaning
from smartbert.replay.curves import gaps
from smartbert.reporting.methods import MethodCatalogue
from smartbert.reporting.results import at_or_below, majority_floor

DROP = 1.0          # points of metric: "minimal accuracy drop"
MARGIN = 0.5        # points of metric: a smaller gap at the same cost is a tie
EVERY_TASK_COST = 80.0  # cost % every task must reach within DROP ("reduction with minimal drop": /1.25)
BEST_TASK_COST = 50.0   # cost % at least one task must reach within DROP ("2-3x": /2)
EXPENSIVE = 90.0    # cost % at which early exit "hardly reduces computation"
SAVES = 95.0        # cost % below which a mechanism "saves computation"
EPS = 1e-9
COST_MARGIN = 2.0   # cost % points: a smaller gap in cost at the same guaranteed risk is a tie


@dataclass
class Claim:
    claim: str
    rule: str
    verdict: str
    evidence: list[str]
    paper_verdict: str | None = field(default=None)  # the same rule on the paper's own tables


@dataclass
class Comparison:
    """Two attainable curves compared at both models' points: mean gap (curve minus other), margin,
    outcome, and how many points of each could be compared (a point cheaper than anything the other
    model reaches cannot be)."""

    mean_gap: float
    margin: float
    covered: int
    points: int
    outcome: str  # "better", "tie", "worse", or "no evidence"
    uncovered_other: int = 0  # the other's points cheaper than the curve's cheapest
    uncovered_curve: int = 0  # the curve's points cheaper than the other's cheapest

    def describe(self) -> str:
        if self.outcome == "no evidence":
            return f"no evidence ({self.points} points above the majority class, none matched at equal or lower cost)"
        if math.isnan(self.mean_gap):
            return f"{self.outcome}: no point above the majority class, against the other's"
        reach = []
        if self.uncovered_other:
            reach.append(f"{self.uncovered_other} of the other's points cost less than anything this reaches")
        if self.uncovered_curve:
            reach.append(f"{self.uncovered_curve} of its points cost less than anything the other reaches")
        return (f"{self.outcome}: mean gap {self.mean_gap:+.2f} points at equal cost over {self.covered} of {self.points} "
                f"points of both (margin {self.margin:.2f})" + (f"; {'; '.join(reach)}" if reach else ""))


def _verdict(hits: int, total: int) -> str:
    if total == 0:
        return "not testable in this run"
    if hits == total:
        return "reproduced"
    return "partly reproduced" if hits else "not reproduced"


def model_rows(agg: pd.DataFrame, task: str, method: str, variant: str = DEFAULT_VARIANT) -> pd.DataFrame:
    """One model's aggregated points (every threshold) on one task."""
    return agg[(agg["task"] == task) & (agg["method"] == method) & (agg["variant"] == variant)]


def _bert(agg: pd.DataFrame, task: str) -> float | None:
    rows = model_rows(agg, task, BERT)
    return float(rows["metric"].iloc[0]) if len(rows) else None


def bert_metrics(agg: pd.DataFrame) -> dict[str, float]:
    """BERT's metric per task (the reference every claim is measured against)."""
    return {task: metric for task in dict.fromkeys(agg["task"]) if (metric := _bert(agg, task)) is not None}


def uninformative(agg: pd.DataFrame, majority: dict[str, dict], task: str) -> str | None:
    """Why ``task`` cannot test a claim (BERT itself at or below the majority class), or None."""
    bert = _bert(agg, task)
    if bert is not None and at_or_below(bert, majority_floor(majority, task)):
        return (f"{task}: not counted: BERT ({bert:.1f}) is at or below the majority class "
                f"({majority_floor(majority, task):.1f}), so there is no accuracy to keep")
    return None


def _at(rows: pd.DataFrame, threshold: float) -> pd.Series | None:
    hit = rows[rows["threshold"].apply(lambda t: math.isclose(t, threshold))]
    return hit.iloc[0] if len(hit) else None


def _spread(rows: pd.DataFrame) -> float:
    return float(rows["metric_std"].mean()) if "metric_std" in rows and len(rows) else 0.0


def compare(curve: pd.DataFrame, other: pd.DataFrame, floor: float = -math.inf) -> Comparison:
    """``curve`` against ``other`` at the points of both (symmetric: at each model's points, the
    curve's attainable metric minus the other's), so neither model's sampling decides alone; points
    at or below ``floor`` (the majority class) drop out of both. Better/worse needs a mean gap beyond
    MARGIN + the seeds' mean std."""
    curve, other = curve[~at_or_below(curve["metric"], floor)], other[~at_or_below(other["metric"], floor)]
    margin = MARGIN + (_spread(curve) + _spread(other)) / 2
    points = len(curve) + len(other)
    if curve.empty and len(other):  # learned nothing where the other model learned something
        return Comparison(math.nan, margin, 0, points, "worse")
    at_other, at_curve = gaps(curve, other), -gaps(other, curve)
    found = pd.concat([at_other.dropna(), at_curve.dropna()])
    if found.empty:
        return Comparison(math.nan, margin, 0, points, "no evidence")
    mean = float(found.mean())
    outcome = "better" if mean > margin else "worse" if mean < -margin else "tie"
    return Comparison(mean, margin, len(found), points, outcome, int(at_other.isna().sum()), int(at_curve.isna().sum()))


def _dominance_verdict(outcomes: dict[str, list[str]]) -> str:
    """Per compared model (baseline or variant): better on more than half of the tasks where there
    is evidence, and worse on none. All of them: reproduced; some of them, or at least as many better
    tasks as worse ones for some model: partly; otherwise (ties, or mostly worse): not reproduced."""
    decided = {name: [o for o in found if o != "no evidence"] for name, found in outcomes.items()}
    decided = {name: found for name, found in decided.items() if found}
    if not decided:
        return "not testable in this run"
    holds = [found.count("better") * 2 > len(found) and "worse" not in found for found in decided.values()]
    if all(holds):
        return "reproduced"
    if any(holds) or any(0 < found.count("better") >= found.count("worse") for found in decided.values()):
        return "partly reproduced"
    return "not reproduced"


def cheapest_within(rows: pd.DataFrame, bert: float, floor: float, thresholds: Sequence[float]) -> pd.Series | None:
    """The cheapest of ``rows`` at one of ``thresholds`` (Table 1's S) within ``DROP`` points of BERT
    and above the majority class ``floor``, or None: the point Table 1's reduction claim counts."""
    ok = rows[(rows["threshold"].apply(lambda t: any(math.isclose(t, s) for s in thresholds)))
              & (rows["metric"] >= bert - DROP - EPS) & ~at_or_below(rows["metric"], floor)]
    return None if ok.empty else ok.sort_values("cost_pct_paper").iloc[0]


def claim_reduction(agg: pd.DataFrame, tasks: Sequence[str], thresholds: Sequence[float],
                    majority: dict[str, dict] | None = None) -> Claim:
    evidence, costs, majority = [], [], majority or {}
    for task in tasks:
        bert, rows = _bert(agg, task), model_rows(agg, task, SMARTBERT)
        if bert is None or rows.empty:
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        best = cheapest_within(rows, bert, majority_floor(majority, task), thresholds)
        if best is None:
            costs.append(math.inf)
            evidence.append(f"{task}: no S in {list(thresholds)} within {DROP} points of BERT ({bert:.1f})")
            continue
        costs.append(float(best["cost_pct_paper"]))
        evidence.append(f"{task}: S={best['threshold']:g} gives {best['metric']:.1f} vs BERT {bert:.1f} at "
                        f"{best['cost_pct_paper']:.0f}% cost (computation / {100.0 / best['cost_pct_paper']:.1f})")
    every = sum(c <= EVERY_TASK_COST + EPS for c in costs)
    if not costs:
        verdict = "not testable in this run"
    elif every == len(costs) and min(costs) <= BEST_TASK_COST + EPS:
        verdict = "reproduced"
    else:
        verdict = "partly reproduced" if every else "not reproduced"
    return Claim("SmartBERT achieves 2-3x computation reduction with minimal accuracy drop (Table 1).",
                 f"per task, the cheapest S of Table 1 within {DROP:g} points of BERT; every task reaches <= "
                 f"{EVERY_TASK_COST:.0f}% cost with it and at least one <= {BEST_TASK_COST:.0f}% (2x). The paper's own "
                 f"Table 1 reaches 2x within {DROP:g} point on SST-2 and CoLA only, so '2-3x' reads 'up to'", verdict, evidence)


def claim_dominance(agg: pd.DataFrame, tasks: Sequence[str], baselines: Sequence[str],
                    majority: dict[str, dict] | None = None) -> Claim:
    evidence: list[str] = []
    outcomes: dict[str, list[str]] = {b: [] for b in baselines}
    majority = majority or {}
    for task in tasks:
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        curve = model_rows(agg, task, SMARTBERT)
        for baseline in baselines:
            points = model_rows(agg, task, baseline)
            if curve.empty or points.empty:
                continue
            result = compare(curve, points, majority_floor(majority, task))
            outcomes[baseline].append(result.outcome)
            evidence.append(f"{task} vs {baseline}: SmartBERT {result.describe()}")
    return Claim("SmartBERT is better than DeeBERT and FastBERT at the same computational cost (Figure 4).",
                 f"per baseline: SmartBERT's attainable metric at the baseline's points (equal or lower cost) is better "
                 f"by more than {MARGIN:g} points (+ the seeds' spread) on average on more than half of the tasks, and "
                 "worse on none; ties are not wins", _dominance_verdict(outcomes), evidence)


def claim_hard_tasks(agg: pd.DataFrame, tasks: Sequence[str], majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in [t for t in ("RTE", "WNLI") if t in tasks]:
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        bert = _bert(agg, task)
        for baseline in ("deebert", "fastbert"):
            row = _at(model_rows(agg, task, baseline), 0.5)
            if row is not None:
                total += 1
                hits += row["cost_pct_paper"] >= EXPENSIVE
                evidence.append(f"{task} {baseline} S=0.5: {row['cost_pct_paper']:.0f}% cost, metric {row['metric']:.1f}")
        row = _at(model_rows(agg, task, SMARTBERT), 0.5)
        if row is not None and bert is not None:
            total += 1
            hits += (row["cost_pct_paper"] < EXPENSIVE and row["metric"] >= bert - DROP - EPS
                     and not at_or_below(row["metric"], majority_floor(majority, task)))
            evidence.append(f"{task} SmartBERT S=0.5: {row['cost_pct_paper']:.0f}% cost, metric {row['metric']:.1f} (BERT {bert:.1f})")
    return Claim("On RTE and WNLI entropy-based exits hardly reduce computation (DeeBERT, FastBERT at S=0.5), "
                 "while SmartBERT's skipping still saves with minimal drop (Table 1).",
                 f"baselines at S=0.5 cost >= {EXPENSIVE:.0f}%; SmartBERT at S=0.5 costs < {EXPENSIVE:.0f}% within {DROP:g} points of BERT",
                 _verdict(hits, total), evidence)


def claim_skip_only(agg: pd.DataFrame, tasks: Sequence[str], majority: dict[str, dict] | None = None) -> Claim:
    evidence, hits, total, majority = [], 0, 0, majority or {}
    for task in tasks:
        bert, rows = _bert(agg, task), model_rows(agg, task, SMARTBERT, SKIP_ONLY)
        if bert is None or rows.empty:
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        row = rows.iloc[0]
        total += 1
        hits += (row["cost_pct_paper"] < SAVES and row["metric"] >= bert - DROP - EPS
                 and not at_or_below(row["metric"], majority_floor(majority, task)))
        layers = f" ({row['avg_layers_run']:.2f} layers run)" if pd.notna(row.get("avg_layers_run")) else ""
        evidence.append(f"{task}: skip-only {row['metric']:.1f} at {row['cost_pct_paper']:.0f}% cost{layers}, BERT {bert:.1f}")
    return Claim("The skipping mechanism alone reduces computation compared with BERT (Table 3).",
                 f"skip-only costs < {SAVES:.0f}% and stays within {DROP:g} points of BERT", _verdict(hits, total), evidence)


def claim_ablation(agg: pd.DataFrame, claim: str, better: str, worse: Sequence[str], label: str,
                   majority: dict[str, dict] | None = None) -> Claim:
    evidence: list[str] = []
    outcomes: dict[str, list[str]] = {v: [] for v in worse}
    majority = majority or {}
    for task in sorted(set(agg["task"])):
        if not any(len(model_rows(agg, task, SMARTBERT, v)) for v in worse):
            continue
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        curve = model_rows(agg, task, SMARTBERT, better)
        for variant in worse:
            points = model_rows(agg, task, SMARTBERT, variant)
            if curve.empty or points.empty:
                continue
            result = compare(curve, points, majority_floor(majority, task))
            outcomes[variant].append(result.outcome)
            evidence.append(f"{task}: {label} vs {variant}: {result.describe()}; mean cost "
                            f"{curve['cost_pct_paper'].mean():.0f}% vs {points['cost_pct_paper'].mean():.0f}%")
    return Claim(claim, f"per compared variant: {label}'s attainable metric at the variant's points is better by more than "
                 f"{MARGIN:g} points (+ the seeds' spread) on more than half of the tasks, and worse on none; ties are not wins",
                 _dominance_verdict(outcomes), evidence)


def claim_cheap_heads(table2: pd.DataFrame) -> Claim:
    evidence, hits, total = [], 0, 0
    for row in table2[table2["component"].isin(["exit_classifier", "skip_gate"])].itertuples(index=False):
        total += 1
        hits += row.pct_of_layer_paper <= 5.0
        paper = "" if pd.isna(row.paper_reports_M) else f" (paper: {row.paper_reports_M:.1f}M)"
        evidence.append(f"{row.backbone} {row.row}: {row.paper_flops_M:.1f}M FLOPs{paper} = {row.pct_of_layer_paper:.1f}% of a layer")
    return Claim("Skipping gates and classifiers cost far less than a Transformer layer (Table 2).",
                 "each gate and classifier costs <= 5% of a layer", _verdict(hits, total), evidence)


def paper_results(paper_dir: str | Path) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The paper's transcribed Tables 1 and 3 as aggregated sweeps, and the GLUE dev majority class
    (``majority.csv``), so every rule can be applied to the paper's own numbers."""
    paper_dir = Path(paper_dir)
    tables = pd.concat([pd.read_csv(paper_dir / name) for name in ("table1.csv", "table3.csv")], ignore_index=True)
    tables = tables.assign(threshold=tables["threshold"].fillna(0.0), variant=tables["variant"].fillna(DEFAULT_VARIANT))
    tables = tables.drop_duplicates(["task", "method", "variant", "threshold"])
    agg = tables.rename(columns={"cost_pct": "cost_pct_paper", "flops_M": "avg_flops_paper_M"}).assign(
        metric_std=0.0, n_seeds=1, avg_layers_run=math.nan,
        policy=lambda f: ["none" if m in (BERT, "distilbert") or v == SKIP_ONLY else "entropy"
                          for m, v in zip(f["method"], f["variant"])])
    majority_rows = pd.read_csv(paper_dir / "majority.csv")
    majority = {r.task: {"task": r.task, "main_metric": r.metric_name, "majority_class": {"metric": float(r.majority_metric)}}
                for r in majority_rows.itertuples(index=False)}
    return agg, majority


@dataclass
class TaskWeight:
    """Whether a task of this run can test the paper: BERT against the majority class (the claims
    count a task only where BERT is above it) and against the paper's BERT."""

    task: str
    bert: float | None
    majority: float
    paper_bert: float | None

    @property
    def learned(self) -> bool:
        return self.bert is not None and not at_or_below(self.bert, self.majority)

    def describe(self) -> str:
        if self.bert is None:
            return "BERT was not run"
        paper = "" if self.paper_bert is None else f"; the paper's BERT-base {self.paper_bert:.1f} ({self.bert - self.paper_bert:+.1f})"
        if not self.learned:
            return f"**no**: BERT {self.bert:.1f} is at or below the majority class {self.majority:.1f}{paper}; its verdicts test nothing"
        return f"yes: BERT {self.bert:.1f}, {self.bert - self.majority:+.1f} over the majority class {self.majority:.1f}{paper}"


def task_weights(agg: pd.DataFrame, majority: dict[str, dict], tasks: Sequence[str], paper_dir: str | Path | None) -> list[TaskWeight]:
    """One :class:`TaskWeight` per task of the run, in its order."""
    paper = {}
    if paper_dir is not None:
        table = pd.read_csv(Path(paper_dir) / "table1.csv")
        paper = {r.task: float(r.metric) for r in table[table["method"] == BERT].itertuples(index=False)}
    return [TaskWeight(task, _bert(agg, task), majority_floor(majority, task), paper.get(task)) for task in tasks]


def compare_cost(smartbert: pd.Series, other: pd.Series, floor: float) -> tuple[str, str]:
    """Two methods' mean test cost at one guaranteed risk level: the outcome for SmartBERT and its
    description. Better/worse needs a gap beyond COST_MARGIN + the trials' mean spread (ties are not
    wins); a full model at or below the majority class agrees with itself cheaply and is no evidence
    (SmartBERT's own then reads "worse", as in :func:`compare`). The risk is measured against each
    model's own full path, so where the two full models differ by more than DROP points, cost alone
    decides nothing: the better full model at no more cost dominates; cheaper but worse is a trade-off
    ("no evidence")."""
    ours, theirs = float(smartbert["trial_cost_pct_mean"]), float(other["trial_cost_pct_mean"])
    margin = COST_MARGIN + (float(smartbert["trial_cost_pct_std"]) + float(other["trial_cost_pct_std"])) / 2
    if at_or_below(float(other["full_metric"]), floor):
        return "no evidence", f"no evidence: the baseline's full model ({other['full_metric']:.1f}) is at or below the majority class"
    if at_or_below(float(smartbert["full_metric"]), floor):
        return "worse", f"worse: SmartBERT's full model ({smartbert['full_metric']:.1f}) is at or below the majority class"
    gap = theirs - ours
    outcome = "better" if gap > margin else "worse" if gap < -margin else "tie"
    described = f"{ours:.1f}% vs {theirs:.1f}% of BERT's FLOPs (gap {gap:+.1f}, margin {margin:.1f})"
    quality = float(smartbert["full_metric"]) - float(other["full_metric"])
    if abs(quality) > DROP + EPS:
        full = f"full models {float(smartbert['full_metric']):.1f} vs {float(other['full_metric']):.1f}"
        if quality > 0:  # SmartBERT's full model is better
            outcome = "no evidence" if outcome == "worse" else "better"
        else:
            outcome = "no evidence" if outcome == "better" else "worse"
        why = "a trade-off" if outcome == "no evidence" else f"{'its' if quality > 0 else 'the baseline'} full model is better at no more cost"
        return outcome, f"{outcome}: {described}; {full} ({why})"
    return outcome, f"{outcome}: {described}"


def claim_guaranteed_cost(guaranteed: pd.DataFrame, agg: pd.DataFrame, majority: dict[str, dict], tasks: Sequence[str],
                          epsilons: Sequence[float], procedure: str = "ltt") -> Claim:
    """SmartBERT against every calibrated baseline at the same guaranteed risk (tables/guaranteed.csv),
    by the dominance rule of Figure 4's claim over (task, ε) pairs."""
    rows = guaranteed[guaranteed["procedure"] == procedure]
    baselines = [m for m in dict.fromkeys(rows["method"]) if m != SMARTBERT]
    outcomes: dict[str, list[str]] = {b: [] for b in baselines}
    evidence: list[str] = []
    for task in tasks:
        if reason := uninformative(agg, majority, task):
            evidence.append(reason)
            continue
        for epsilon in epsilons:
            here = at_epsilons(rows[rows["task"] == task], [epsilon]).set_index("method")
            if SMARTBERT not in here.index:
                continue
            for baseline in baselines:
                if baseline not in here.index:
                    continue
                outcome, described = compare_cost(here.loc[SMARTBERT], here.loc[baseline], majority_floor(majority, task))
                outcomes[baseline].append(outcome)
                evidence.append(f"{task} at eps {100 * epsilon:g} pt vs {baseline}: SmartBERT {described}")
    return Claim("At the same guaranteed risk, SmartBERT needs less computation than the early-exit baselines "
                 "(this suite's question; the paper picks thresholds by hand).",
                 f"per baseline, with {procedure} thresholds (P(risk > eps) <= delta; risk: "
                 f"{loss_meaning(list(rows.get('loss', [])))}), SmartBERT's mean test-half "
                 f"cost is lower by more than {COST_MARGIN:g} points of cost % (+ the trials' spread) on more than half of "
                 f"the (task, eps) pairs and higher on none; ties are not wins; where the full models differ by more than "
                 f"{DROP:g} point{'' if DROP == 1 else 's'} of the metric, the better one wins at no more cost and a cheaper, worse one is no evidence",
                 _dominance_verdict(outcomes), evidence)


def evaluate_claims(agg: pd.DataFrame, majority: dict[str, dict], config: dict, table2: pd.DataFrame, *,
                    methods: MethodCatalogue) -> list[Claim]:
    """Every claim on this run's results, in the report's order."""
    tasks = list(config["tasks"])
    return [
        *curve_claims(agg, majority, config, tasks, methods=methods),
        claim_skip_only(agg, [t for t in config["tables"]["table3_tasks"] if t in tasks], majority),
        claim_ablation(agg, "Cross-layer contrastive learning further reduces computation (Figure 5).", DEFAULT_VARIANT,
                       config["figures"]["fig5_variants"], "contrast", majority),
        claim_ablation(agg, "The special training way (SP) beats soft and hard gate training (Figure 6).", DEFAULT_VARIANT,
                       config["figures"]["fig6_variants"], "SP", majority),
        claim_cheap_heads(table2),
    ]


def as_default(agg: pd.DataFrame, method: str, variant: str) -> pd.DataFrame:
    """``agg`` with ``method``'s ``variant`` in place of its default, so that a claim about the
    default can be read for the variant by the same rule."""
    default = (agg["method"] == method) & (agg["variant"] == DEFAULT_VARIANT)
    chosen = (agg["method"] == method) & (agg["variant"] == variant)
    return pd.concat([agg[~default & ~chosen], agg[chosen].assign(variant=DEFAULT_VARIANT)], ignore_index=True)


def variant_claims(agg: pd.DataFrame, majority: dict[str, dict], config: dict, variant: str, *,
                   methods: MethodCatalogue) -> list[Claim]:
    """The claims about SmartBERT's own curve (Table 1's reduction, Figure 4's comparison, RTE/WNLI)
    by the same rules, with SmartBERT's ``variant`` in its default's place, on the tasks it ran."""
    agg = as_default(agg, SMARTBERT, variant)
    tasks = [t for t in config["tasks"] if len(model_rows(agg, t, SMARTBERT))]
    return curve_claims(agg[agg["task"].isin(tasks)], majority, config, tasks, methods=methods)


def curve_claims(agg: pd.DataFrame, majority: dict[str, dict], config: dict, tasks: Sequence[str], *,
                 methods: MethodCatalogue) -> list[Claim]:
    """The claims about SmartBERT's default curve: Table 1's reduction, Figure 4's comparison with
    DeeBERT and FastBERT, and RTE/WNLI (the first three of :func:`evaluate_claims`)."""
    return [claim_reduction(agg, tasks, smartbert_thresholds(config, methods), majority),
            claim_dominance(agg, tasks, [m for m in ("deebert", "fastbert") if m in config["methods"]], majority),
            claim_hard_tasks(agg, tasks, majority)]


def smartbert_thresholds(config: dict, methods: MethodCatalogue) -> list[float]:
    """SmartBERT's Table 1 thresholds in this run."""
    return [float(t) for t in methods[SMARTBERT].policy_class.table_thresholds(config["thresholds"]) if t is not None]


PAPER_TASKS = ("MRPC", "SST-2", "QNLI", "QQP", "MNLI", "MNLI-mm", "CoLA", "RTE", "WNLI")


def paper_table2(paper_dir: str | Path) -> pd.DataFrame:
    """The paper's Table 2 in the layout :func:`claim_cheap_heads` reads."""
    paper = pd.read_csv(Path(paper_dir) / "table2.csv")
    values = dict(zip(paper["component"], paper["paper_flops_M"]))
    return pd.DataFrame([{"component": c, "backbone": "paper", "row": c, "paper_flops_M": v, "paper_reports_M": v,
                          "pct_of_layer_paper": 100.0 * v / values["layer"]} for c, v in values.items()])


def paper_verdicts(paper_dir: str | Path, *, methods: MethodCatalogue) -> list[str | None]:
    """Each claim's rule applied to the paper's own Tables 1-3, on every task the paper ran (None
    where the paper gives no numbers: Figures 5 and 6 are plots only)."""
    agg, majority = paper_results(paper_dir)
    table2 = paper_table2(paper_dir)
    paper_points = {methods[SMARTBERT].policy_class.name: [0.1, 0.3, 0.5]}  # the paper's Table 1 (section 4.4)
    config = {"tasks": PAPER_TASKS, "methods": ["deebert", "fastbert"], "thresholds": paper_points,
              "tables": {"table3_tasks": ["SST-2", "RTE", "WNLI"]}, "figures": {"fig5_variants": [], "fig6_variants": []}}
    verdicts = [claim.verdict for claim in evaluate_claims(agg, majority, config, table2, methods=methods)]
    return [None if verdict == "not testable in this run" else verdict for verdict in verdicts]
