"""Methods from outside the repository (issue 17): a package that declares the `smartbert.methods`
entry point, installed with pip into the suite's environment, adds a method that the CLI, the
method-matrix tests and a smoke-style workflow's tables all see (and is uninstalled afterwards);
the registry refuses what it cannot use, by name."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from smartbert.core.errors import SmartBertError
from smartbert.methods.registry import (
    Method,
    MethodConfig,
    Stage,
    check_method,
    final_cross_entropy,
)
from tests.helpers import REPO, workflow_env

PLUGIN = '''
"""A method from outside smartbert's repository: BERT fine-tuning under another name."""
from dataclasses import dataclass, field

from smartbert.core.config import WEIGHT, setting
from smartbert.modeling.encoder import LayeredEncoder
from smartbert.modeling.heads import pooled_head
from smartbert.modeling.model import EarlyExitModel
from smartbert.methods.registry import Method, MethodConfig, Stage, final_cross_entropy, register


@dataclass
class MyExitConfig(MethodConfig):
    """MyExit (Tester, 2026)."""

    label_smoothing: float = field(default=0.0, metadata=setting("unused here: shows a plugin's own range", WEIGHT))


@register
class MyExit(Method):
    name = "myexit"
    config_class = MyExitConfig
    default_policy = "none"
    paper = "Tester, 2026, MyExit"

    def build(self, backbone, num_labels, config):
        encoder = LayeredEncoder(backbone)
        return EarlyExitModel(encoder, {encoder.num_layers: pooled_head(backbone, num_labels, config.dropout, True)}, num_labels)

    def stages(self, config):
        return [Stage("finetune", trainable=lambda model: model.parameters(), loss=final_cross_entropy)]
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "my-exit-method"
version = "0.1"

[tool.setuptools]
py-modules = ["my_exit_method"]

[project.entry-points."smartbert.methods"]
myexit = "my_exit_method"
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The plugin package, `pip install`ed (offline) into this test run's environment, and uninstalled
    afterwards; the environment every subprocess below runs in (a fresh process finds its entry point)."""
    package = tmp_path_factory.mktemp("plugin") / "my-exit-method"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "my_exit_method.py").write_text(PLUGIN)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(package)],
                   check=True, capture_output=True, timeout=300)
    try:
        found = run([sys.executable, "-c", "import importlib.metadata as m; print([e.value for e in "
                     "m.entry_points(group='smartbert.methods')])"], workflow_env())
        assert "my_exit_method" in found.stdout, found.stderr
        yield workflow_env()
    finally:
        subprocess.run([*pip, "uninstall", "--quiet", "--yes", "my-exit-method"], capture_output=True, timeout=300)


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)


def test_an_installed_method_is_listed_and_trains(installed, tmp_path) -> None:
    listed = run([sys.executable, "-m", "smartbert.app.cli", "list"], installed)
    assert listed.returncode == 0 and "myexit (Tester, 2026, MyExit)" in listed.stdout
    trained = run([sys.executable, "-m", "smartbert.app.cli", "-q", "train", "--task", "synthetic-sentiment", "--method", "myexit",
                   "--backbone", "tiny", "--epochs", "1", "--max-train-examples", "32", "--out", str(tmp_path / "m")], installed)
    assert trained.returncode == 0, trained.stderr
    assert '"method": "myexit"' in (tmp_path / "m" / "smartbert.json").read_text()


def test_the_method_matrix_tests_an_installed_method(installed) -> None:
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "unit" / "methods" / "test_methods.py"),
                  str(REPO / "tests" / "integration" / "damaged_input" / "test_settings.py"), "-k", "myexit and not cuda"], installed, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    passed = int(result.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 5, result.stdout[-500:]  # training, mixed precision, replay, ... and the config range checks


def test_an_installed_method_appears_in_a_workflow_table(installed, tmp_path) -> None:
    config = {"profile": "plugin", "backbone": "tiny", "tasks": ["synthetic-sentiment"], "seeds": [1],
              "data": {"source": "synthetic", "max_train_examples": {"default": 64}},
              "train": {"epochs": 1, "batch_size": 16, "learning_rate": 1.0e-3, "max_seq_len": 32},
              "methods": {"bert": {}, "myexit": {}}, "latency": {"examples": 0},
              "tables": {"table3_tasks": []}, "figures": {"fig5_variants": [], "fig6_variants": []}}
    (tmp_path / "plugin.yaml").write_text(yaml.safe_dump(config))
    result = run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
                  "--configfile", str(tmp_path / "plugin.yaml")], installed, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table1 = pd.read_csv(tmp_path / "results/plugin/tables/table1.csv")
    assert set(table1["method"]) >= {"bert", "myexit"}
    assert "MyExit" in (tmp_path / "results/plugin/tables/table1.md").read_text()


def test_a_broken_plugin_is_named_not_a_traceback(tmp_path) -> None:
    site = tmp_path / "site"
    info = site / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[smartbert.methods]\nbroken = no_such_module_anywhere\n")
    env = dict(workflow_env(), PYTHONPATH=str(site))
    result = run([sys.executable, "-m", "smartbert.app.cli", "list"], env)
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1
    assert "method plugin 'broken' (no_such_module_anywhere" in err[0] and "fix or uninstall its package" in err[0]


# ---- what the registry refuses ------------------------------------------------------------------

@dataclass
class _Config(MethodConfig):
    pass


def _method(**overrides) -> type:
    body = {"name": "ok", "config_class": _Config, "default_policy": "none",
            "build": lambda self, backbone, num_labels, config: None,
            "stages": lambda self, config: [Stage("s", trainable=lambda m: m.parameters(), loss=final_cross_entropy)]}
    body.update(overrides)
    return type("Candidate", (Method,), body)


def test_a_well_formed_method_passes_the_check() -> None:
    check_method(_method())


@pytest.mark.parametrize("overrides, message", [
    ({"name": "My-Method"}, "`name` 'My-Method' must be lower-case"),
    ({"config_class": dict}, "`config_class` must be a dataclass subclassing"),
    ({"default_policy": "entrpy"}, "`default_policy` 'entrpy' is not an exit policy"),
    ({"stages": lambda self, config: []}, "non-empty list of smartbert.methods.registry.Stage"),
    ({"stages": lambda self, config: 1 / 0}, r"`stages\(config_class\(\)\)` failed \(division by zero\)"),
])
def test_the_registry_refuses_a_method_it_cannot_use_by_name(overrides, message) -> None:
    with pytest.raises(SmartBertError, match=rf"method .*Candidate cannot be registered: .*{message}"):
        check_method(_method(**overrides))


def test_an_abstract_method_is_refused() -> None:
    class Half(Method):
        name = "half"

    with pytest.raises(SmartBertError, match=r"it must implement \['build', 'stages'\]"):
        check_method(Half)


def test_two_methods_of_one_name_are_refused() -> None:
    from smartbert.methods.registry import METHODS, get_method, method_names, register

    method_names()  # the registry loaded
    real = get_method("bert")
    with pytest.raises(SmartBertError, match="method name 'bert' is registered twice"):
        register(_method(name="bert"))
    assert METHODS["bert"] is real


def test_the_plugin_source_is_what_the_readme_shows() -> None:
    """README's "A method from your own package" shows this entry point; keep them in step."""
    readme = (REPO / "README.md").read_text()
    assert '[project.entry-points."smartbert.methods"]' in readme and textwrap.dedent(PYPROJECT).split("\n")[-2] in readme
