"""Offline compute nodes (issue 13, item 6): with the offline flags set, GLUE and hub backbones load from
a Hugging Face cache filled beforehand (built here in a temporary folder, no network); an item the
cache lacks names the `smartbert download` command that fetches it; `smartbert download` refuses to
run offline and reports items that need no network without touching it; hub columns become examples
in one pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartbert.app.download import download
from smartbert.core.errors import SmartBertError
from smartbert.data.hub import examples_from_table
from smartbert.data.tasks import get_task
from smartbert.modeling.backbones import TINY_SHAPE
from tests.helpers import REPO

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
FAKE_BACKBONE = "someone/tiny-bert"  # a hub id no real cache holds
RTE_ROWS = {"train": 3, "validation": 2}


def _glue_rte_cache(cache: Path) -> None:
    """The ``datasets`` cache as ``load_dataset("nyu-mll/glue", "rte")`` leaves it, from a few rows."""
    import datasets
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet, ParquetConfig

    source = cache.parent / "parquet"
    source.mkdir(parents=True)
    for split, rows in RTE_ROWS.items():
        datasets.Dataset.from_dict({"sentence1": [f"premise {i}" for i in range(rows)],
                                    "sentence2": [f"hypothesis {i}" for i in range(rows)],
                                    "label": [i % 2 for i in range(rows)], "idx": list(range(rows))},
                                   ).to_parquet(str(source / f"{split}.parquet"))

    class Glue(Parquet):  # what the hub's parquet export of nyu-mll/glue is built with
        BUILDER_CONFIGS = [ParquetConfig(name="rte", data_files=DataFilesDict.from_patterns(
            {split: [f"{split}.parquet"] for split in RTE_ROWS}, base_path=str(source)))]

    Glue(cache_dir=str(cache), dataset_name="glue", config_name="rte", hash="0123abcd").download_and_prepare()
    (cache / "glue").rename(cache / "nyu-mll___glue")  # the hub dataset's folder: owner___name


def _hub_model_cache(hub: Path, repo_id: str) -> None:
    """The hub cache (``models--owner--name``: refs/main -> snapshot) holding a tiny BERT and its vocabulary."""
    from smartbert.modeling.backbones import load_backbone, load_tokenizer

    commit = "0" * 40
    folder = hub / f"models--{repo_id.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    load_backbone("tiny", seed=0).save_pretrained(snapshot)
    load_tokenizer("tiny").save_pretrained(snapshot)


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hf_home")
    _glue_rte_cache(home / "datasets")
    _hub_model_cache(home / "hub", FAKE_BACKBONE)
    return home


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLUE_DIR", "HF_DATASETS_CACHE", "HF_HUB_CACHE")}
    return {**env, **OFFLINE, "HF_HOME": str(home), "HF_DATASETS_CACHE": str(home / "datasets"),
            "HF_HUB_CACHE": str(home / "hub")}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python(f"import sys; from smartbert.app.cli import main; sys.exit(main({list(args)!r}))", env)


def test_glue_and_a_hub_backbone_load_from_the_cache_with_the_offline_flags_set(hf_home):
    code = f"""
import json
from smartbert.modeling.backbones import load_backbone, load_tokenizer
from smartbert.data.load import load_split
from tests.helpers import REPO
train, dev = load_split("RTE", "train", source="hub"), load_split("RTE", "dev", source="hub")
model, tokenizer = load_backbone({FAKE_BACKBONE!r}), load_tokenizer({FAKE_BACKBONE!r})
print(json.dumps({{"train": [[e.text_a, e.text_b, e.label] for e in train], "dev": len(dev),
                   "layers": model.config.num_hidden_layers, "ids": tokenizer("a premise")["input_ids"]}}))
"""
    result = run_python(code, offline_env(hf_home))
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["train"] == [[f"premise {i}", f"hypothesis {i}", i % 2] for i in range(3)]
    assert loaded["dev"] == RTE_ROWS["validation"] and loaded["layers"] == TINY_SHAPE.num_layers and len(loaded["ids"]) >= 3


def test_an_item_the_cache_lacks_names_the_command_that_fetches_it(hf_home, tmp_path):
    env = offline_env(hf_home)
    task = run_cli("data", "--task", "MRPC", "--data-source", "hub", env=env)
    assert task.returncode == 2 and len(task.stderr.strip().splitlines()) == 1, task.stderr[-3000:]
    assert "HF_HUB_OFFLINE is set" in task.stderr and "`smartbert download --task MRPC`" in task.stderr
    assert "GLUE_DIR" in task.stderr
    backbone = run_cli("flops", "--backbone", "someone/not-cached", env=env)
    assert backbone.returncode == 2 and len(backbone.stderr.strip().splitlines()) == 1, backbone.stderr[-3000:]
    assert "`smartbert download --backbone someone/not-cached`" in backbone.stderr
    refused = run_cli("download", "--task", "RTE", "--out", str(tmp_path / "d.json"), env=env)
    assert refused.returncode == 2 and "HF_HUB_OFFLINE is set" in refused.stderr and "login node" in refused.stderr
    assert not (tmp_path / "d.json").exists()


def _online(monkeypatch) -> None:
    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)


def test_download_reports_items_that_need_no_network(monkeypatch, tmp_path):
    _online(monkeypatch)
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n")
    rows = download(["RTE", "synthetic-sentiment"], ["tiny", "minilm-l6"], source="auto", glue_dir=tmp_path)
    statuses = {row["item"]: row["status"] for row in rows}
    assert statuses["task RTE"].startswith("read from") and str(tmp_path) in statuses["task RTE"]
    assert statuses == {"task RTE": statuses["task RTE"], "task synthetic-sentiment": "generated",
                        "backbone tiny": "bundled", "backbone minilm-l6": "bundled"}


def test_download_fetches_every_hub_split_through_the_loader_a_run_uses(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"sentence1": ["P."], "sentence2": ["H."], "label": [1], "idx": [0]})

    _online(monkeypatch)
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = download(["RTE"], [], source="hub")
    assert calls == [("nyu-mll/glue", "rte", "train"), ("nyu-mll/glue", "rte", "validation")]
    assert rows == [{"item": "task RTE", "status": "cached: train 1, dev 1"}]


def test_download_checks_every_name_before_fetching_anything(monkeypatch):
    import datasets

    _online(monkeypatch)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("fetched before the names were checked"))
    with pytest.raises(SmartBertError, match="unknown task 'RTX'"):
        download(["RTE", "RTX"], [], source="hub")


def test_hub_columns_become_examples_in_one_pass():
    import datasets

    rows = 50_000
    table = datasets.Dataset.from_dict({"premise": [f"p{i}" for i in range(rows)], "hypothesis": [f"h{i}" for i in range(rows)],
                                        "label": [i % 3 for i in range(rows)], "idx": list(range(rows))})
    examples = examples_from_table(table, get_task("MNLI"))
    assert len(examples) == rows
    assert [(e.text_a, e.text_b, e.label) for e in (examples[0], examples[-1])] == [("p0", "h0", 0), ("p49999", "h49999", 1)]
    single = examples_from_table(datasets.Dataset.from_dict({"sentence": ["good"], "label": [1], "idx": [0]}), get_task("SST-2"))
    assert [(e.text_a, e.text_b, e.label) for e in single] == [("good", None, 1)]
