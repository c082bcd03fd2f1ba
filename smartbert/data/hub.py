"""Load GLUE from the Hugging Face hub (``nyu-mll/glue``) through ``datasets``, or from its cache.

Offline (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set, as on a cluster's compute nodes),
``datasets`` serves a split that ``smartbert download`` put into the cache beforehand; a split that
is not there names the command that fetches it.
"""

from __future__ import annotations

import contextlib
import logging
import os

from smartbert.core.errors import DataUnavailableError, one_line
from smartbert.data.tasks import Example, TaskSpec

HUB_DATASET = "nyu-mll/glue"
DATASETS_OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")      # what keeps `datasets` off the network
TRANSFORMERS_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # what keeps `transformers` off it
OFFLINE_VARIABLES = tuple(dict.fromkeys(DATASETS_OFFLINE + TRANSFORMERS_OFFLINE))


def hub_offline(variables: tuple[str, ...] = OFFLINE_VARIABLES) -> str | None:
    """The first of ``variables`` by which the user told Hugging Face libraries not to use the network."""
    return next((v for v in variables if os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}), None)


def cache_miss_message(variables: tuple[str, ...], what: str, fetch: str, cache: str, instead: str,
                       error: Exception) -> str | None:
    """The one-line error for an item an offline run's Hugging Face cache lacks (naming the
    ``smartbert download`` arguments that fetch it), or None when no offline flag is set."""
    offline = hub_offline(variables)
    if not offline:
        return None
    return (f"cannot load {what}: {offline} is set and the Hugging Face cache does not hold it. Run "
            f"`smartbert download {fetch}` where there is network, with the same {cache} as here, {instead}. "
            f"({one_line(error)})")


def unavailable_message(spec: TaskSpec, error: Exception) -> str:
    folder = spec.glue_folder or spec.name
    tsv = (f"or set GLUE_DIR to a folder of the original GLUE TSVs (e.g. GLUE_DIR=../shared/glue, holding "
           f"{folder}/train.tsv and {folder}/dev.tsv) or pass --glue-dir")
    return (cache_miss_message(DATASETS_OFFLINE, spec.name, f"--task {spec.name}", "HF_HOME / HF_DATASETS_CACHE", tsv, error)
            or f"cannot load {spec.name} from the Hugging Face hub: {tsv}. (hub error: {one_line(error)})")


def load_hub_split(spec: TaskSpec, split: str) -> list[Example]:
    """Examples of ``split`` ('train', 'dev') from the hub or its cache; one clear error otherwise."""
    if spec.hub_config is None or split not in spec.hub_splits:
        raise DataUnavailableError(f"task {spec.name} has no hub split {split!r}")
    import datasets  # heavy import, only when the hub is really used

    try:
        with _quiet_cache_notice():
            table = datasets.load_dataset(HUB_DATASET, spec.hub_config, split=spec.hub_splits[split])
    except Exception as error:  # noqa: BLE001 - any failure to fetch or find means "download, or use GLUE_DIR"
        raise DataUnavailableError(unavailable_message(spec, error)) from error
    return examples_from_table(table, spec)


@contextlib.contextmanager
def _quiet_cache_notice():
    """Offline, ``datasets`` warns at every load that it uses the cache: that is what was asked for."""
    logger = logging.getLogger("datasets.load")
    level = logger.level
    if hub_offline(DATASETS_OFFLINE):
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def examples_from_table(table, spec: TaskSpec) -> list[Example]:
    """A ``datasets.Dataset``'s rows as examples, its columns read whole (Arrow to lists in one pass:
    under a second for MNLI's 393k rows, where indexing a column row by row took 259 s:
    benchmarks/hub_loading.py)."""
    columns = table.select_columns([*spec.hub_text_columns, "label"]).to_dict()
    texts, labels = [columns[c] for c in spec.hub_text_columns], columns["label"]
    second = texts[1] if len(texts) > 1 else [None] * len(labels)
    return [Example(a, b, int(label)) for a, b, label in zip(texts[0], second, labels)]
