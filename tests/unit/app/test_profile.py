"""One source for configuration: the workflow's schema is generated from the profile dataclasses,
and the committed file is that output (run `make schema` after changing a field)."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate
from snakemake_interface_common.exceptions import WorkflowError

from smartbert.app.plan.profile import Profile, profile_schema, schema_text, train_section
from smartbert.training.config import TrainConfig
from tests.helpers import REPO

COMMITTED = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_the_committed_schema_is_the_generated_one():
    assert COMMITTED.read_text() == schema_text(), "workflow/schemas/config.schema.yaml is stale: run `make schema`"


def test_a_changed_field_changes_the_schema(monkeypatch):
    import dataclasses

    latency = {f.name: f for f in dataclasses.fields(Profile)}["latency"].default_factory
    field = {f.name: f for f in dataclasses.fields(latency)}["repeats"]
    monkeypatch.setattr(field, "default", 5)
    assert COMMITTED.read_text() != schema_text()


def test_train_settings_come_from_trainconfig_with_their_ranges_and_no_defaults_filled():
    train = train_section()["properties"]
    assert set(train) == {f for f in TrainConfig.__dataclass_fields__} - {"seed", "max_train_examples"}
    assert train["learning_rate"]["exclusiveMinimum"] == 0 and train["max_seq_len"]["minimum"] == 8
    assert train["precision"]["enum"] == ["fp32", "tf32", "bf16", "fp16"]
    assert all("default" not in spec for spec in train.values())


@pytest.mark.parametrize("change, valid", [
    ({}, True),
    ({"train": {"max_seq_len": 4}}, False),
    ({"train": {"epochs": 0}}, False),
    ({"train": {"warmup_ratio": 1.5}}, False),
    ({"methods": {"bert": {"train": {"batch_size": 0}}}}, False),
    ({"thresholds": {"entropy": [-1]}}, False),
    ({"latency": {"examples": -1}}, False),
    ({"profile": "paper"}, False),
    ({"variants": {"skiponly": {"method": "smartbert"}}}, False),
    ({"external": {"e": {"rules": "r.smk"}}}, False),
    ({"selection": {"grid": {"lam": []}}}, False),
    ({"unknown": 1}, False),
])
def test_the_schema_refuses_what_the_dataclasses_refuse(change, valid, tmp_path):
    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config.update(copy.deepcopy(change))
    if valid:
        validate(config, str(COMMITTED))
        assert config["latency"]["repeats"] == 1 and config["figures"]["fig4_tasks"] is None  # defaults filled in
    else:
        with pytest.raises(WorkflowError):
            validate(config, str(COMMITTED))


def test_the_schema_is_draft_2020_12():
    assert profile_schema()["$schema"].endswith("2020-12/schema")
