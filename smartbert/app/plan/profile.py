"""A profile's configuration (``config/*.yaml``) as dataclasses: the one source of its rules.

The JSON schema Snakemake validates a profile against (``workflow/schemas/config.schema.yaml``) is
generated from :class:`Profile` (``make schema``; ``tests/unit/app/test_profile.py`` fails when the
committed schema differs). A section's fields carry their help text, range and default; the
``train:`` sections are :class:`smartbert.training.config.TrainConfig`'s fields, each method's
``config:`` its own config dataclass (checked when the workflow starts, :meth:`Experiment.check`).
Run as a module it prints the schema."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from smartbert.core.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Range, setting
from smartbert.core.schema import Schema, object_schema
from smartbert.training.config import TrainConfig

NAME = {"pattern": "^[a-z][a-z0-9_]*$"}
#: TrainConfig fields a profile sets elsewhere: `seeds:` and `data.max_train_examples`
NOT_IN_TRAIN_SECTION = ("seed", "max_train_examples")


@dataclass
class DataSection:
    source: Literal["auto", "tsv", "hub", "synthetic"] = field(default="auto", metadata=setting(
        "auto: synthetic-* tasks are generated, GLUE tasks come from GLUE_DIR if set, else the hub"))
    max_train_examples: dict[str, int | None] = field(default_factory=lambda: {"default": None}, metadata=setting(
        "per task (or `default`) the number of training examples kept (by seed); null = all", AT_LEAST_ONE))


@dataclass
class MethodBlock:
    config: dict[str, Any] = field(default_factory=dict, metadata=setting(
        "the method's config dataclass fields (checked against it when the workflow starts)"))
    train: dict[str, Any] = field(default_factory=dict, metadata=setting("train settings of this method only"))
    backbone: str | None = field(default=None, metadata=setting("this method's backbone (null = the top-level backbone)"))


@dataclass
class VariantBlock:
    method: str = field(metadata=setting("the registered method this variant modifies"))
    config: dict[str, Any] = field(default_factory=dict, metadata=setting("method config fields on top of the method's own"))
    tasks: list[str] | None = field(default=None, metadata=setting("null = every task"))
    seeds: list[int] | None = field(default=None, metadata=setting(
        "null = every seed of the run; a subset of them trains the ablation on fewer seeds"))


@dataclass
class SelectionSection:
    method: str = field(default="smartbert", metadata=setting("the method whose hyper-parameters are chosen"))
    grid: dict[str, list[Any]] = field(default_factory=dict, metadata=setting(
        "field -> values; empty = no selection", schema={"additionalProperties": {"type": "array", "minItems": 1}}))
    heldout_fraction: float = field(default=0.1, metadata=setting("share of train held out for selection", FRACTION))
    tolerance: float = field(default=1.0, metadata=setting(
        "metric points below the best held-out score that a cheaper (fewer layers run) point may score and still be chosen",
        NON_NEGATIVE))


@dataclass
class LatencySection:
    examples: int = field(default=100, metadata=setting(
        "dev examples timed per task; 0 = no latency column and no latency figure", NON_NEGATIVE))
    repeats: int = field(default=3, metadata=setting("timed passes (the median is reported) after one warm-up pass",
                                                     AT_LEAST_ONE))


@dataclass
class CalibrationSection:
    trials: int = field(default=500, metadata=setting(
        "random calibration/test halves of dev each calibrated threshold is checked on; 0 = no calibration (no "
        "guaranteed-cost table, figure or claim)", NON_NEGATIVE))
    epsilons: list[float] = field(default_factory=lambda: [0.01, 0.02], metadata=setting(
        "risk levels of the table and the claim (0.01: at most 1 point of disagreement with the model's full path)",
        FRACTION, schema={"minItems": 1}))
    figure_epsilons: list[float] = field(default_factory=lambda: [0.005, 0.01, 0.02, 0.03, 0.05, 0.1], metadata=setting(
        "risk levels the figure draws (cost against eps)", FRACTION, schema={"minItems": 1}))
    delta: float = field(default=0.1, metadata=setting("error rate of Learn-then-Test's guarantee P(risk > eps) <= delta",
                                                       FRACTION))
    loss: Literal["disagreement", "harm"] = field(default="disagreement", metadata=setting(
        "disagreement: the exit's prediction differs from the full path's; harm: wrong where the full path is right"))
    seed: int = field(default=0, metadata=setting("seed of the random halves", NON_NEGATIVE))


@dataclass
class TablesSection:
    table3_tasks: list[str] = field(default_factory=lambda: ["SST-2", "RTE", "WNLI"], metadata=setting(
        "the tasks of Table 3 (skip-only)"))
    seq_len: int = field(default=128, metadata=setting("sequence length of Table 2's FLOPs (the paper's 128)", AT_LEAST_ONE))


@dataclass
class ExternalBaseline:
    rules: str = field(metadata=setting("the Snakemake file holding the rule (relative to where snakemake runs, or absolute)"))
    sweep: str = field(metadata=setting(
        "the sweep each task gets, under results/<profile>/, with {task} (e.g. external/NAME/{task}.csv)",
        schema={"pattern": "\\{task\\}"}))
    tasks: list[str] | None = field(default=None, metadata=setting("the tasks it has numbers for (null = every task of the run)",
                                                                    default_in_schema=False))


@dataclass
class FiguresSection:
    fig4_tasks: list[str] | None = field(default=None, metadata=setting("Figure 4's tasks; null = every task"))
    fig5_variants: list[str] = field(default_factory=lambda: ["nocontrast"], metadata=setting(
        "Figure 5's variants beside the default (contrastive learning)"))
    fig6_variants: list[str] = field(default_factory=lambda: ["soft", "hard"], metadata=setting(
        "Figure 6's variants beside the default (gate training)"))


@dataclass
class Profile:
    """The experiment: its name, tasks, seeds, backbone, methods and their variants, thresholds, budgets.
    Never threads, devices or output folders (the name decides the folders, not a path). Every key is
    explained in config/README.md. An unknown key is an error naming it; a missing key takes the
    default shown here."""

    profile: str = field(metadata=setting(
        "the profile's name; its outputs go under results/<profile>/, figures/<profile>/ and logs/<profile>/, so runs "
        "of different profiles never touch each other (`paper` is taken: results/paper/ holds the paper's own numbers)",
        schema={"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "not": {"enum": ["paper"]}}))
    backbone: str = field(default="minilm-l6", metadata=setting(
        "minilm-l6 (bundled, offline), tiny (random), a hub id or a local directory"))
    reference_backbone: str | None = field(default=None, metadata=setting(
        "cost % is relative to this backbone's full depth (null = each model's own backbone)"))
    tasks: list[str] = field(default_factory=lambda: ["SST-2", "MRPC", "CoLA", "RTE", "WNLI"], metadata=setting(
        "the tasks run (GLUE names or synthetic-*)", schema={"minItems": 1}))
    seeds: list[int] = field(default_factory=lambda: [1], metadata=setting("training seeds", schema={"minItems": 1}))
    data: DataSection = field(default_factory=DataSection, metadata=setting("where task data comes from and how much"))
    train: dict[str, Any] = field(default_factory=dict, metadata=setting(
        "smartbert.training.config.TrainConfig fields shared by every method (a method's `train` overrides them)"))
    methods: dict[str, MethodBlock] = field(default_factory=dict, metadata=setting(
        "registered method name -> its block; a method not listed is not run", schema={"minProperties": 1},
        default_in_schema=False))
    variants: dict[str, VariantBlock] = field(default_factory=dict, metadata=setting(
        "ablations, each a method config on top of the method's own, trained on `tasks`",
        schema={"propertyNames": {**NAME, "not": {"enum": ["default", "skiponly"]}}}))
    selection: SelectionSection = field(default_factory=SelectionSection, metadata=setting(
        "SmartBERT's hyper-parameters chosen per task on a held-out split of train (never dev)"))
    thresholds: dict[str, list[float]] = field(default_factory=dict, metadata=setting(
        "Table 1's points keyed by exit policy (smartbert.replay.policies: entropy, normalised_entropy, patience; each "
        "policy checks its own domain and has its own default, the paper's S = 0.1, 0.3, 0.5 and patience 3, 4)",
        Range(0), schema={"propertyNames": NAME, "properties": {"dense": {
            "description": "also sweep each policy's dense grid (the figures' curves)", "type": "boolean", "default": True}}}))
    latency: LatencySection = field(default_factory=LatencySection, metadata=setting(
        "Table 1's latency column and Figure 4's latency panel: batch-1 dynamic inference of every method's default model "
        "(first seed) at Table 1's thresholds, timed together on `examples` dev examples spread over each task's dev set "
        "(one job per task, using every core so nothing runs beside it)"))
    calibration: CalibrationSection = field(default_factory=CalibrationSection, metadata=setting(
        "exit thresholds with a statistical guarantee (smartbert.replay.calibrate: Learn-then-Test, conformal risk "
        "control) for every early-exit method's default model, from its dev trace; the latency job times them too"))
    tables: TablesSection = field(default_factory=TablesSection, metadata=setting("the tables' tasks and FLOPs length"))
    external: dict[str, ExternalBaseline] = field(default_factory=dict, metadata=setting(
        "baselines from outside the suite, by name (the `method` their sweeps carry): a Snakemake file of the user's own "
        "whose rule writes, per task, a sweep CSV in the schema of smartbert.reporting.external; the tables, Figure 4 and "
        "REPORT.md take those sweeps beside the suite's own", schema={"propertyNames": {"pattern": "^[a-z][a-z0-9_-]*$"}}))
    figures: FiguresSection = field(default_factory=FiguresSection, metadata=setting("which tasks and variants each figure draws"))


def train_section() -> Schema:
    """The ``train:`` overrides: TrainConfig's fields, none filled in (TrainConfig holds the defaults)."""
    return object_schema(TrainConfig, exclude=NOT_IN_TRAIN_SECTION, defaults=False)


def profile_schema() -> Schema:
    """The JSON schema of a profile (draft 2020-12), as ``workflow/schemas/config.schema.yaml`` holds it."""
    schema = object_schema(Profile, description=" ".join((Profile.__doc__ or "").split()))
    properties = schema["properties"]
    train = train_section()
    properties["train"] = {**properties["train"], **{k: v for k, v in train.items() if k != "description"}}
    method = properties["methods"]["additionalProperties"]
    method["default"] = {}
    method["properties"]["train"] = {**method["properties"]["train"], **{k: v for k, v in train.items() if k != "description"}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


HEADER = ("# Generated from smartbert.app.plan.profile.Profile by `make schema`; do not edit (edit the dataclasses).\n"
          "# Snakemake validates each profile against it and fills in the defaults.\n")


def schema_text() -> str:
    return HEADER + yaml.safe_dump(profile_schema(), sort_keys=False, width=110, allow_unicode=True)


if __name__ == "__main__":
    sys.stdout.write(schema_text())
