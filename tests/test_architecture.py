"""The house's import rule, read from the source: imports point downward only, workflow -> cli ->
library, baselines -> library. A baseline never imports another baseline or SmartBERT's own method
(what two methods share lives in the library: smartbert.heads, smartbert.losses, smartbert.registry,
smartbert.model), and the library never imports the CLI, the workflow or a method."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def imported_modules(module: str, source: str) -> set[str]:
    """Every module ``source`` (the module ``module``) imports: absolute names, relative ones resolved."""
    tree = ast.parse(source)
    package = module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*parent, base]))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(module: str, source: str) -> list[str]:
    """The imports of ``source`` (the module ``module``) that break the rule."""
    bad = []
    for name in sorted(imported_modules(module, source)):
        top = name.split(".")[0]
        if module.startswith("baselines."):
            if top == "baselines" and name not in ("baselines",) and not name.startswith(module):
                bad.append(f"{module} imports another baseline ({name})")
            if name.startswith("smartbert.methods") or name.startswith("smartbert.cli"):
                bad.append(f"{module} imports {name}")
        elif module.startswith("smartbert.") and not module.startswith("smartbert.methods") and module != "smartbert.cli":
            if name.startswith("smartbert.cli") or top in ("workflow", "benchmarks") or name.startswith("smartbert.methods."):
                bad.append(f"{module} imports {name}")
            if top == "baselines" and module != "smartbert.registry":
                bad.append(f"{module} imports {name}")
        elif module.startswith("smartbert.methods."):
            if top == "baselines" or name.startswith("smartbert.cli"):
                bad.append(f"{module} imports {name}")
    return bad


SOURCES = sorted([*REPO.joinpath("smartbert").rglob("*.py"), *REPO.joinpath("baselines").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_downward(path: Path) -> None:
    assert violations(module_name(path), path.read_text()) == []


@pytest.mark.parametrize("line, module", [
    ("from baselines.bert import pooled_head", "baselines.fastbert"),
    ("import smartbert.cli", "smartbert.trainer"),
    ("from smartbert.methods.smartbert import gated_pass", "baselines.pabee"),
    ("from baselines import deebert", "baselines.pabee"),
])
def test_the_rule_catches_a_deliberate_violation(line: str, module: str) -> None:
    path = REPO.joinpath(*module.split(".")).with_suffix(".py")
    assert violations(module, path.read_text()) == []
    assert violations(module, path.read_text() + "\n" + line + "\n")


def test_a_baseline_importing_another_is_named() -> None:
    source = (REPO / "baselines" / "fastbert.py").read_text() + "\nfrom baselines.bert import Bert\n"
    assert violations("baselines.fastbert", source) == ["baselines.fastbert imports another baseline (baselines.bert)",
                                "baselines.fastbert imports another baseline (baselines.bert.Bert)"]
