"""Load GLUE from the Hugging Face hub (``nyu-mll/glue``) through ``datasets``."""

from __future__ import annotations

import os

from smartbert.data.tasks import Example, TaskSpec
from smartbert.errors import DataUnavailableError

HUB_DATASET = "nyu-mll/glue"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_offline() -> bool:
    """True when the user told Hugging Face libraries not to use the network."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in _OFFLINE_VARIABLES)


def offline_message(spec: TaskSpec) -> str:
    folder = spec.glue_folder or spec.name
    return (
        f"cannot load {spec.name}: the Hugging Face hub is not reachable (offline) and GLUE_DIR is "
        f"not set. Set GLUE_DIR to a folder of the original GLUE TSVs (e.g. GLUE_DIR=../shared/glue, "
        f"holding {folder}/train.tsv and {folder}/dev.tsv) or pass --glue-dir."
    )


def load_hub_split(spec: TaskSpec, split: str) -> list[Example]:
    """Examples of ``split`` ('train', 'dev') from the hub; one clear error when offline."""
    if spec.hub_config is None or split not in spec.hub_splits:
        raise DataUnavailableError(f"task {spec.name} has no hub split {split!r}")
    if hub_offline():
        raise DataUnavailableError(offline_message(spec))
    import datasets  # heavy import, only when the hub is really used

    try:
        table = datasets.load_dataset(HUB_DATASET, spec.hub_config, split=spec.hub_splits[split])
    except Exception as error:  # noqa: BLE001 - any failure to fetch means "use GLUE_DIR"
        raise DataUnavailableError(f"{offline_message(spec)} (hub error: {error})") from error
    columns = [table[c] for c in spec.hub_text_columns]
    labels = table["label"]
    return [
        Example(columns[0][i], columns[1][i] if len(columns) > 1 else None, int(labels[i]))
        for i in range(len(labels))
    ]
