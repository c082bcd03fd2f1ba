"""A profile's configuration read as a plan: which models exist, what each training gets, what each
sweep, oracle and figure reads. Models are ``(task, method, variant, seed)`` tuples; the Snakefile
turns them into paths with its templates."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartbert.core.config import from_dict, merge_layers
from smartbert.core.errors import SmartBertError
from smartbert.core.names import BERT, DEFAULT_VARIANT, SKIP_ONLY, SMARTBERT
from smartbert.core.schema import check_finite
from smartbert.data.tasks import get_task, training_task
from smartbert.methods.registry import Stage, get_method, method_names
from smartbert.replay.policies import ExitPolicy, check_table_thresholds
from smartbert.training.grid import parse_grid, point_names

Model = tuple[str, str, str, str]  # task, method, variant, seed

#: the gated method whose default model also gets a skip-only sweep (Table 3)
GATED_METHOD = SMARTBERT


@dataclass(frozen=True)
class FigureSpec:
    """One of Figures 4-6: which kind, on which tasks, with which variants beside the default."""

    kind: str
    tasks: list[str]
    variants: list[str]


class Experiment:
    """The plan of one profile (``config``: Snakemake's validated configuration, defaults filled).

    ``narrowed``: ``--config tasks=[...]`` on the command line runs part of a profile (one task per
    sitting), so a variant or figure on another task is left out instead of being a mistake.
    ``repo_dir``: where relative paths of external baselines' rules are looked up after the working
    directory."""

    def __init__(self, config: Mapping[str, Any], narrowed: bool = False, repo_dir: str | Path = ".") -> None:
        self.config = config
        self.narrowed = narrowed
        self.repo_dir = Path(repo_dir)
        self.tasks: list[str] = list(config["tasks"])
        self.train_tasks = list(dict.fromkeys(training_task(t) for t in self.tasks))  # MNLI-mm evaluates MNLI's models
        self.seeds = [str(seed) for seed in config["seeds"]]
        self.methods: list[str] = list(config["methods"])
        self.variants = [DEFAULT_VARIANT, *config["variants"]]
        self.external: Mapping[str, Any] = config["external"]

    # ---- checks -----------------------------------------------------------------------------------

    def check(self) -> None:
        """Every name the config uses exists, every method config fits its dataclass: raises
        :class:`SmartBertError` before any job, naming the key."""
        config = self.config
        check_finite(dict(config), "config")  # the schema's ranges let NaN through, YAML writes it .nan
        for task in config["tasks"] + config["tables"]["table3_tasks"]:
            get_task(task)
        for name, block in config["methods"].items():
            from_dict(get_method(name).config_class, block["config"], f"config methods.{name}.config")
        for name, variant in config["variants"].items():
            if variant["method"] not in config["methods"]:
                raise SmartBertError(f"variant {name!r} modifies method {variant['method']!r}, which is not under `methods:`")
            base = config["methods"][variant["method"]]["config"]
            from_dict(get_method(variant["method"]).config_class, {**base, **variant["config"]}, f"config variants.{name}.config")
            for task in variant["tasks"] or []:
                get_task(task)
                if task not in config["tasks"] and not self.narrowed:
                    raise SmartBertError(f"variant {name!r} runs on {task!r}, which is not in `tasks:` {config['tasks']}")
            outside = [seed for seed in variant.get("seeds") or [] if seed not in config["seeds"]]
            if outside:
                raise SmartBertError(f"variant {name!r} trains seed(s) {outside}, which are not in `seeds:` {config['seeds']}: "
                                     "a variant's seeds are a subset of the run's")
        check_table_thresholds(config["thresholds"])
        grid = config["selection"]["grid"]
        if grid:
            method = config["selection"]["method"]
            if method not in config["methods"]:
                raise SmartBertError(f"selection.method {method!r} is not under `methods:`")
            for key, values in grid.items():
                for value in values:
                    from_dict(get_method(method).config_class, {key: value}, f"config selection.grid.{key}")
        for name, spec in config["external"].items():
            if name in method_names():
                raise SmartBertError(f"external.{name}: {name!r} is a registered method; give the external baseline another name")
            if self.external_rules(name) is None:
                raise SmartBertError(f"external.{name}.rules: {spec['rules']} not found (relative paths: from {os.getcwd()} "
                                     f"or this repository)")
            for task in spec.get("tasks") or []:
                get_task(task)
        for figure in ("fig5_variants", "fig6_variants"):
            for name in config["figures"][figure]:
                if name not in config["variants"]:
                    raise SmartBertError(f"figures.{figure} names variant {name!r}; define it under `variants:`")
        if not self.narrowed:
            for name, spec in self.figures().items():
                if not spec.tasks:
                    raise SmartBertError(f"{name} has no task on which all of its variants {spec.variants} run; give them "
                                         f"a common task under `variants:` (their `tasks:`) or `figures.fig4_tasks`")

    # ---- which models exist -----------------------------------------------------------------------

    def variant_method(self, variant: str) -> str:
        return self.config["variants"][variant]["method"]

    def method_of(self, method: str, variant: str) -> str:
        """The method a (method, variant) pair trains: the method itself, or the one the variant modifies."""
        return method if variant == DEFAULT_VARIANT else self.variant_method(variant)

    def variant_tasks(self, variant: str) -> list[str]:
        """The run's tasks the variant runs on (its `tasks:`, null = all; those outside the run's `tasks:` left out)."""
        return [t for t in self.config["variants"][variant]["tasks"] or self.tasks if t in self.tasks]

    def variant_seeds(self, variant: str) -> list[str]:
        """The run's seeds the variant trains (its `seeds:`, null = all)."""
        chosen = self.config["variants"][variant].get("seeds")
        return self.seeds if chosen is None else [s for s in self.seeds if int(s) in chosen]

    def models(self) -> list[Model]:
        """(task, method, variant, seed) of every evaluation (trace, sweep) the config asks for; the model
        traced is that of ``training_task(task)`` (itself except for MNLI-mm)."""
        found = [(t, m, DEFAULT_VARIANT, s) for t in self.tasks for m in self.methods for s in self.seeds]
        for name, variant in self.config["variants"].items():
            found += [(t, variant["method"], name, s) for t in self.variant_tasks(name) for s in self.variant_seeds(name)]
        return found

    def swept_models(self) -> list[Model]:
        """Every sweep the run makes: each model's, and the gated method's skip-only replay of its default model."""
        found = self.models()
        if GATED_METHOD in self.methods:
            found += [(t, GATED_METHOD, SKIP_ONLY, s) for t in self.tasks for s in self.seeds]
        return found

    def models_of(self, tasks: list[str], variants: list[str]) -> list[Model]:
        """Models of ``variants`` on ``tasks`` (Figures 5 and 6; a run without SmartBERT still draws them, empty)."""
        return [model for model in self.models() if model[0] in tasks and model[2] in variants]

    # ---- baselines from outside -------------------------------------------------------------------

    def external_rules(self, name: str) -> str | None:
        """The Snakemake file of the external baseline ``name``: absolute, or relative to the working
        directory, else to this repository (where the worked example lives); None if neither holds it."""
        rules = self.external[name]["rules"]
        for path in (rules, self.repo_dir / rules):
            if os.path.isfile(path):
                return os.path.abspath(path)
        return None

    def external_tasks(self, name: str) -> list[str]:
        """The run's tasks the external baseline ``name`` has numbers for."""
        return [t for t in self.external[name].get("tasks") or self.tasks if t in self.tasks]

    def external_sweeps(self, tasks: list[str] | None = None) -> list[str]:
        """The external baselines' sweep paths (relative to the results root), on ``tasks`` (default: all)."""
        return [spec["sweep"].format(task=t) for name, spec in self.external.items() for t in self.external_tasks(name)
                if tasks is None or t in tasks]

    # ---- what a training run gets -----------------------------------------------------------------

    def max_train_examples(self, task: str) -> int | None:
        budget = self.config["data"]["max_train_examples"]
        return budget.get(task, budget.get("default"))

    def backbone_of(self, method: str) -> str:
        return self.config["methods"][method]["backbone"] or self.config["backbone"]

    def backbones(self) -> list[str]:
        """Every backbone the profile names (its methods' and the FLOPs reference), each once (`download`)."""
        names = [self.backbone_of(method) for method in self.methods]
        if self.config["reference_backbone"]:
            names.append(self.config["reference_backbone"])
        return list(dict.fromkeys(names))

    def run_config(self, task: str, method: str, variant: str = DEFAULT_VARIANT) -> str:
        """The `--config` mapping of one training (JSON): shared train settings, the method's, the variant's."""
        block = self.config["methods"][method]
        layers = [("train:", {"train": self.config["train"]}),
                  (f"methods.{method}", {"train": block["train"], "method": block["config"]}),
                  ("data.max_train_examples", {"train": {"max_train_examples": self.max_train_examples(task)}})]
        if variant != DEFAULT_VARIANT:
            layers.append((f"variants.{variant}", {"method": self.config["variants"][variant]["config"]}))
        return json.dumps(merge_layers(layers), sort_keys=True)

    def method_config(self, method: str, variant: str = DEFAULT_VARIANT) -> Any:
        """The method's config dataclass for ``variant`` (the method's block, the variant's on top)."""
        block = dict(self.config["methods"][method]["config"])
        if variant != DEFAULT_VARIANT:
            block.update(self.config["variants"][variant]["config"])
        return from_dict(get_method(method).config_class, block, method)

    def needs_selection(self, method: str) -> bool:
        return bool(self.config["selection"]["grid"]) and method == self.config["selection"]["method"]

    def selects(self) -> bool:
        """The profile chooses the selected method's hyperparameters per task (and that method runs)."""
        return bool(self.config["selection"]["grid"]) and self.config["selection"]["method"] in self.methods

    def grid_args(self) -> str:
        """`--grid KEY=V1,V2` of the select and choose jobs."""
        return " ".join(f"--grid {item}" for item in self._grid_items())

    def _grid_items(self) -> list[str]:
        return [f"{key}={','.join(map(str, values))}" for key, values in self.config["selection"]["grid"].items()]

    def selection_points(self) -> list[str]:
        """The name of every grid point, in grid order: one select job each (none without a grid)."""
        items = self._grid_items()
        return point_names(parse_grid(items)) if items else []

    def selection_point_index(self, name: str) -> int:
        """The grid index of the point named ``name`` (:meth:`selection_points`), the select job's ``--point``."""
        points = self.selection_points()
        if name not in points:
            raise SmartBertError(f"{name!r} is not a point of this profile's selection grid {points}: "
                                 "ask the workflow for one of those")
        return points.index(name)

    def stages(self, method: str, variant: str = DEFAULT_VARIANT) -> list[Stage]:
        """The training stages of ``method`` configured for ``variant``."""
        return get_method(method).stages(self.method_config(method, variant))

    def reused_methods(self, method: str) -> list[str]:
        """Methods whose trained models a method's stages reuse or distil from (DeeBERT, DistilBERT: bert)."""
        return sorted({needed for stage in self.stages(method) for needed in (stage.reuse, stage.teacher) if needed})

    # ---- what a sweep, an oracle and the latency job get ------------------------------------------

    def exit_policy(self, method: str) -> type[ExitPolicy]:
        """The class of the method's exit policy (its threshold's name, domain and Table 1 points)."""
        return get_method(method).policy_class

    def table_thresholds_arg(self, method: str) -> str:
        """`--thresholds` of the sweep: Table 1's points of the method's exit rule (none for a static one)."""
        policy = self.exit_policy(method)
        if policy.is_static():
            return ""
        return f"--thresholds {','.join(map(str, policy.table_thresholds(self.config['thresholds'])))}"

    def middle_threshold_arg(self, method: str) -> str:
        """`--threshold` of the oracle: the middle of those points, where per-head exits are counted."""
        policy = self.exit_policy(method)
        return "" if policy.is_static() else f"--threshold {policy.table_middle(self.config['thresholds'])}"

    def latency_thresholds_args(self) -> str:
        """`--thresholds POLICY=...` of the latency job: the Table 1 points the profile sets per exit rule."""
        return " ".join(f"--thresholds {name}={','.join(map(str, values))}" for name, values in self.config["thresholds"].items()
                        if name != "dense")

    def reference_args(self) -> str:
        reference = self.config["reference_backbone"]
        return f"--reference-backbone {reference}" if reference else ""

    @property
    def latency(self) -> bool:
        return self.config["latency"]["examples"] > 0

    # ---- calibrated thresholds (smartbert.replay.calibrate) ------------------------------------------

    @property
    def calibrates(self) -> bool:
        return self.config["calibration"]["trials"] > 0

    def calibrated_models(self, task: str | None = None, first_seed: bool = False) -> list[Model]:
        """Every early-exit method's default model (a static one has no threshold), on ``task`` or every task."""
        if not self.calibrates:
            return []
        seeds = self.seeds[:1] if first_seed else self.seeds
        return [(t, m, DEFAULT_VARIANT, s) for t in ([task] if task else self.tasks) for m in self.methods
                if not self.exit_policy(m).is_static() for s in seeds]

    def calibrate_args(self) -> str:
        """`smartbert calibrate`'s options: every eps of the table and the figure, delta, loss, trials, seed."""
        section = self.config["calibration"]
        epsilons = sorted({float(e) for e in [*section["epsilons"], *section["figure_epsilons"]]})
        return (f"--epsilons {','.join(f'{e:g}' for e in epsilons)} --delta {section['delta']} --loss {section['loss']} "
                f"--trials {section['trials']} --seed {section['seed']}")

    def calibrated_latency_models(self, task: str) -> list[Model]:
        """The models the calibrated latency job times: BERT (the reference) and each calibrated method's first seed."""
        bert = [(training_task(task), BERT, DEFAULT_VARIANT, self.seeds[0])] if BERT in self.methods else []
        return bert + [(training_task(t), m, v, s) for (t, m, v, s) in self.calibrated_models(task, first_seed=True)]

    # ---- figures ----------------------------------------------------------------------------------

    def figure_tasks(self, variants: list[str]) -> list[str]:
        """Tasks on which every one of ``variants`` ran."""
        return [t for t in self.tasks if all(t in self.variant_tasks(v) for v in variants)]

    def figures(self) -> dict[str, FigureSpec]:
        figures = self.config["figures"]
        return {
            "fig4_tradeoff": FigureSpec("fig4", [t for t in figures["fig4_tasks"] or self.tasks if t in self.tasks], []),
            "fig5_contrast": FigureSpec("fig5", self.figure_tasks(figures["fig5_variants"]), list(figures["fig5_variants"])),
            "fig6_gate_training": FigureSpec("fig6", self.figure_tasks(figures["fig6_variants"]), list(figures["fig6_variants"])),
        }

    def drawn_figures(self) -> list[str]:
        """Every figure with a task to draw: a run narrowed to tasks outside the ablations' (``--config
        tasks=[RTE]``) leaves Figures 5 and 6 to the run that holds those tasks."""
        return ([name for name, spec in self.figures().items() if spec.tasks] + (["fig4_latency"] if self.latency else [])
                + (["guaranteed_cost"] if self.calibrated_models() else []))

    def figure_models(self, figure: str) -> list[Model]:
        """The models a figure draws (Figure 4: every method's default; 5 and 6: the variants beside the default)."""
        spec = self.figures()[figure]
        if spec.kind == "fig4":
            return [(t, m, DEFAULT_VARIANT, s) for t in spec.tasks for m in self.methods for s in self.seeds]
        return self.models_of(spec.tasks, [DEFAULT_VARIANT, *spec.variants])

    def latency_models(self, task: str) -> list[Model]:
        """Every method's default model (first seed) that ``task`` evaluates."""
        return [(training_task(task), m, DEFAULT_VARIANT, self.seeds[0]) for m in self.methods]
