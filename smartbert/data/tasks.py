"""One spec per task of the paper (GLUE: Wang et al., 2018) plus the project's synthetic tasks.

A spec says where the text and labels are in each source (original GLUE TSVs, the hub's
``nyu-mll/glue``), the label set in the hub's order (so both sources give the same ids), and
the paper's main metric (Table 1: F1 for MRPC and QQP, Matthews correlation for CoLA,
accuracy elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smartbert.core.errors import UnknownNameError


@dataclass(frozen=True)
class Example:
    """One labelled example. ``text_b`` is None for single-sentence tasks."""

    text_a: str
    text_b: str | None
    label: int


@dataclass(frozen=True)
class TsvLayout:
    """Where fields live in an original GLUE TSV file.

    ``columns`` are header names, or integer positions for headerless files (CoLA).
    ``label_values`` are the raw strings of the label column, in label-id order.
    """

    text_columns: tuple[str | int, ...]
    label_column: str | int
    label_values: tuple[str, ...]
    has_header: bool = True


@dataclass(frozen=True)
class TaskSpec:
    """A classification task: its fields, labels, metric and where each split lives."""

    name: str
    labels: tuple[str, ...]
    main_metric: str
    secondary_metrics: tuple[str, ...] = ()
    glue_folder: str | None = None
    tsv_layout: TsvLayout | None = None
    tsv_files: dict[str, str] = field(default_factory=dict)
    hub_config: str | None = None
    hub_text_columns: tuple[str, ...] = ()
    hub_splits: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False
    is_pair: bool = False
    sizes: dict[str, int] = field(default_factory=dict)  # examples per split (GLUE: as download_glue_data.py writes them)

    @property
    def num_labels(self) -> int:
        return len(self.labels)


    def split_size(self, split: str) -> int | None:
        """Examples in ``split`` (None where unknown); what a cluster job's runtime request is computed from."""
        return self.sizes.get(split)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.tsv_files or self.hub_splits or ("train", "dev"))


_TRAIN_DEV = {"train": "train.tsv", "dev": "dev.tsv"}
#: examples per split of the synthetic tasks (smartbert.data.synthetic generates them)
SYNTHETIC_SIZES = {"train": 2000, "dev": 500}
_HUB_TRAIN_DEV = {"train": "train", "dev": "validation"}


def _glue(
    name: str,
    folder: str,
    labels: tuple[str, ...],
    main_metric: str,
    layout: TsvLayout,
    hub_config: str,
    hub_text_columns: tuple[str, ...],
    secondary: tuple[str, ...] = (),
    tsv_files: dict[str, str] | None = None,
    hub_splits: dict[str, str] | None = None,
    sizes: tuple[int, int] = (0, 0),
) -> TaskSpec:
    return TaskSpec(
        name=name,
        labels=labels,
        main_metric=main_metric,
        secondary_metrics=secondary,
        glue_folder=folder,
        tsv_layout=layout,
        tsv_files=tsv_files or dict(_TRAIN_DEV),
        hub_config=hub_config,
        hub_text_columns=hub_text_columns,
        hub_splits=hub_splits or dict(_HUB_TRAIN_DEV),
        is_pair=len(hub_text_columns) == 2,
        sizes={"train": sizes[0], "dev": sizes[1]},
    )


_MNLI_LAYOUT = TsvLayout(("sentence1", "sentence2"), "gold_label", ("entailment", "neutral", "contradiction"))
_MNLI_LABELS = ("entailment", "neutral", "contradiction")

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        _glue("CoLA", "CoLA", ("unacceptable", "acceptable"), "mcc",
              TsvLayout((3,), 1, ("0", "1"), has_header=False), "cola", ("sentence",),
              secondary=("accuracy",),
              sizes=(8551, 1043)),
        _glue("SST-2", "SST-2", ("negative", "positive"), "accuracy",
              TsvLayout(("sentence",), "label", ("0", "1")), "sst2", ("sentence",),
              sizes=(67349, 872)),
        _glue("MRPC", "MRPC", ("not_equivalent", "equivalent"), "f1",
              TsvLayout(("#1 String", "#2 String"), "Quality", ("0", "1")), "mrpc",
              ("sentence1", "sentence2"), secondary=("accuracy",),
              sizes=(3668, 408)),
        _glue("QQP", "QQP", ("not_duplicate", "duplicate"), "f1",
              TsvLayout(("question1", "question2"), "is_duplicate", ("0", "1")), "qqp",
              ("question1", "question2"), secondary=("accuracy",),
              sizes=(363846, 40430)),
        _glue("MNLI", "MNLI", _MNLI_LABELS, "accuracy", _MNLI_LAYOUT, "mnli", ("premise", "hypothesis"),
              tsv_files={"train": "train.tsv", "dev": "dev_matched.tsv"},
              hub_splits={"train": "train", "dev": "validation_matched"},
              sizes=(392702, 9815)),
        # MNLI-mm: the MNLI model evaluated on the mismatched dev set (Table 1's own column).
        _glue("MNLI-mm", "MNLI", _MNLI_LABELS, "accuracy", _MNLI_LAYOUT, "mnli", ("premise", "hypothesis"),
              tsv_files={"train": "train.tsv", "dev": "dev_mismatched.tsv"},
              hub_splits={"train": "train", "dev": "validation_mismatched"},
              sizes=(392702, 9832)),
        _glue("QNLI", "QNLI", ("entailment", "not_entailment"), "accuracy",
              TsvLayout(("question", "sentence"), "label", ("entailment", "not_entailment")), "qnli",
              ("question", "sentence"),
              sizes=(104743, 5463)),
        _glue("RTE", "RTE", ("entailment", "not_entailment"), "accuracy",
              TsvLayout(("sentence1", "sentence2"), "label", ("entailment", "not_entailment")), "rte",
              ("sentence1", "sentence2"),
              sizes=(2490, 277)),
        _glue("WNLI", "WNLI", ("not_entailment", "entailment"), "accuracy",
              TsvLayout(("sentence1", "sentence2"), "label", ("0", "1")), "wnli",
              ("sentence1", "sentence2"),
              sizes=(635, 71)),
        TaskSpec("synthetic-sentiment", ("negative", "positive"), "accuracy", synthetic=True, sizes=dict(SYNTHETIC_SIZES)),
        TaskSpec("synthetic-nli", ("entailment", "neutral", "contradiction"), "accuracy", synthetic=True,
                 is_pair=True, sizes=dict(SYNTHETIC_SIZES)),
    ]
}

#: The tasks of the paper's Table 1, in its column order.
PAPER_TASKS = ("MRPC", "SST-2", "QNLI", "QQP", "MNLI", "MNLI-mm", "CoLA", "RTE", "WNLI")

#: Tasks with no training of their own: they evaluate the model of another task (Table 1's MNLI-mm
#: column is the MNLI model on the mismatched dev set).
EVALUATES_MODEL_OF = {"MNLI-mm": "MNLI"}


def training_task(name: str) -> str:
    """The task whose trained model ``name`` is evaluated with (itself, except MNLI-mm -> MNLI)."""
    spec = get_task(name)
    return EVALUATES_MODEL_OF.get(spec.name, spec.name)


_ALIASES = {"sst2": "SST-2", "mnli-m": "MNLI", "mnli_mismatched": "MNLI-mm", "mnli-mm": "MNLI-mm"}


def get_task(name: str) -> TaskSpec:
    """Look a task up by name, case-insensitively (``rte``, ``SST-2``, ``sst2`` all work)."""
    if name in TASKS:
        return TASKS[name]
    lowered = name.lower()
    for key in TASKS:
        if key.lower() == lowered:
            return TASKS[key]
    if lowered in _ALIASES:
        return TASKS[_ALIASES[lowered]]
    raise UnknownNameError("task", name, list(TASKS))
