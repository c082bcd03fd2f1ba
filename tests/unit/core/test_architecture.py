"""The house's import rules (docs/design.md, "Layers") are import-linter contracts in pyproject.toml:
layers import only downward, replay, reporting and core never reach torch, the library never imports
a baseline, and no method imports another. These tests run the contracts and show that each kind of
violation breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install)")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` over the packages under ``root`` (its own copies found first on the path)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root), "HOME": str(root)})


def test_the_contracts_hold() -> None:
    found = lint_imports(REPO)
    assert found.returncode == 0, found.stdout + found.stderr
    assert found.stdout.count(" KEPT") == 4 and "BROKEN" not in found.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("smartbert/data/splits.py", "from smartbert.training.trainer import TrainConfig", "Layers"),
    ("smartbert/replay/curves.py", "import torch", "without torch"),
    ("smartbert/reporting/results.py", "from smartbert.methods.registry import get_method", "without torch"),
    ("smartbert/training/trainer.py", "import baselines.bert", "Baselines are plugins"),
    ("baselines/pabee.py", "from baselines.deebert import DeeBert", "Methods are independent"),
    ("baselines/fastbert.py", "from smartbert.methods.smartbert import SmartBert", "Methods are independent"),
    ("smartbert/replay/sweep.py", "    def _hidden() -> None:\n        import smartbert.app.cli", "Layers"),
])
def test_a_deliberate_violation_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for package in ("smartbert", "baselines"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + ("\n\nclass _Broken:\n" + line if line.startswith(" ") else "\n" + line) + "\n")
    found = lint_imports(tmp_path)
    assert found.returncode != 0, found.stdout
    broken = [row for row in found.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), found.stdout


@pytest.mark.parametrize("old, new", [("smartbert.registry", "smartbert.methods.registry"), ("smartbert.cli", "smartbert.app.cli"),
                                      ("smartbert.trace", "smartbert.replay.trace")])
def test_a_module_of_the_flat_layout_names_its_new_place(old: str, new: str) -> None:
    import importlib

    with pytest.raises(ModuleNotFoundError, match=f"{old} moved to {new}"):
        importlib.import_module(old)
    with pytest.raises(ModuleNotFoundError, match="No module named 'smartbert.nothing'"):
        importlib.import_module("smartbert.nothing")  # a name that never existed is Python's own error
