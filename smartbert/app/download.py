"""Fill the Hugging Face cache before an offline run (``smartbert download``, ``snakemake download``).

Cluster compute nodes often have no network. On a login node, ``smartbert download`` loads every
GLUE split and every backbone a run names through the very calls the run makes (``datasets`` and
``transformers`` ``from_pretrained``), so they land in the cache (``HF_HOME``); with
``HF_HUB_OFFLINE=1`` the compute nodes then read them from there. Bundled, local, generated and
GLUE_DIR items need nothing and are reported as such.
"""

from __future__ import annotations

import logging
from pathlib import Path

from smartbert.core.errors import SmartBertError
from smartbert.data.hub import hub_offline, load_hub_split
from smartbert.data.load import Source, resolve_source
from smartbert.data.tasks import get_task
from smartbert.modeling import backbones

log = logging.getLogger("smartbert.app.download")


def check_online() -> None:
    """Refuse before any work where the user told Hugging Face libraries to stay offline."""
    offline = hub_offline()
    if offline:
        raise SmartBertError(f"smartbert download fetches from the Hugging Face hub, but {offline} is set; "
                             f"unset it (run this on a machine with network, e.g. the login node)")


def download_task(name: str, source: Source = "auto", glue_dir: str | Path | None = None) -> dict[str, str]:
    """Every split of task ``name`` into the ``datasets`` cache, unless it comes from elsewhere."""
    spec = get_task(name)
    kind, path = resolve_source(spec, source, glue_dir)
    if kind != "hub":
        return {"item": f"task {spec.name}", "status": "generated" if kind == "synthetic" else f"read from {path}"}
    sizes = {split: len(load_hub_split(spec, split)) for split in spec.hub_splits}
    return {"item": f"task {spec.name}", "status": "cached: " + ", ".join(f"{s} {n}" for s, n in sizes.items())}


def download_backbone(name: str) -> dict[str, str]:
    """A hub backbone's config, tokenizer and weights into the ``transformers`` cache."""
    if name == "tiny" or backbones.local_path(name) is not None:
        return {"item": f"backbone {name}", "status": "bundled" if name in ("tiny", "minilm-l6") else "local directory"}
    backbones.load_config(name)
    backbones.load_tokenizer(name)
    layers = backbones.load_backbone(name).config.num_hidden_layers
    return {"item": f"backbone {name}", "status": f"cached ({layers} layers)"}


def download(tasks: list[str], backbone_names: list[str], source: Source = "auto",
             glue_dir: str | Path | None = None) -> list[dict[str, str]]:
    """Every task and backbone named, each reported as one row; task names (and GLUE_DIR) are checked
    before any download (a backbone's hub id can only be checked by fetching it)."""
    check_online()
    for name in tasks:
        resolve_source(get_task(name), source, glue_dir)  # an unknown task or a bad GLUE_DIR fails first
    rows = []
    for name in tasks:
        rows.append(download_task(name, source, glue_dir))
        log.info("%s: %s", rows[-1]["item"], rows[-1]["status"])
    for name in dict.fromkeys(backbone_names):
        rows.append(download_backbone(name))
        log.info("%s: %s", rows[-1]["item"], rows[-1]["status"])
    return rows
