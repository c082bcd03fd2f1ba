"""Mutation score of the suite's core (issue 31, item 4): mutmut over each module of
``benchmarks/mutation.yaml`` against that module's fast unit tests, into ``results/bench/mutation.json``.

Not part of the tests (``make mutation``). Each module runs in its own scratch copy
(``build/mutation/<module>/``: the library, the baselines, the tests, the paper's tables and a
``pyproject.toml`` with that module's ``[tool.mutmut]`` section), so modules never share mutmut's
state. A module's score = (killed + timeout) / mutants; the survivors the config names equivalent
(with a reason) are reported beside it, and the score without them. ``--record before`` stores the
run as the score before new tests; a later run (``after``, the default) keeps that score beside its own.
While ``/tmp/timing.lock`` exists (someone is timing on this machine) no module starts.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._result import write_result  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "benchmarks" / "mutation.yaml"
COPIED = ("smartbert", "baselines", "tests", "config", "results/paper")
LOCK = Path("/tmp/timing.lock")
# mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into the columns reported
STATUS = {1: "killed", 3: "killed", 0: "survived", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout",
          255: "timeout", 5: "no_tests", 33: "no_tests", 34: "skipped", None: "not_checked"}


def wait_for_timing_lock(poll_s: float = 60.0) -> None:
    """Start nothing while another engineer times something on this machine."""
    while LOCK.exists():
        print(f"{LOCK} exists: waiting {poll_s:.0f} s", flush=True)
        time.sleep(poll_s)


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def test_selection(spec: dict[str, Any], before: bool) -> list[str]:
    """The module's tests: those that were there and, unless scoring ``before``, those added to kill
    survivors (a test file not written yet is left out)."""
    tests = list(spec["tests"]) + ([] if before else list(spec.get("added") or []))
    return [t for t in tests if (REPO / t.split("::")[0]).is_file()]


def prepare(name: str, tests: list[str], spec: dict[str, Any], root: Path) -> Path:
    """A fresh scratch copy for one module, its ``[tool.mutmut]`` section appended to pyproject.toml."""
    work = root / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for path in COPIED:
        shutil.copytree(REPO / path, work / path, ignore=ignore)
    section = "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["smartbert/"]',
        f"only_mutate = {toml_list(spec['files'])}",
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-o", "addopts="]',
        f"also_copy = {toml_list([p + '/' for p in COPIED if p != 'smartbert'])}",
        f"process_isolation = {json.dumps(spec.get('isolation', 'fork'))}",
        "use_git_change_detection = false",
        "",
    ])
    (work / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + section)
    return work


def mutmut_bin() -> str:
    return str(Path(sys.executable).parent / "mutmut")


def stored_codes(root: Path, name: str) -> dict[str, int | None]:
    """The module's mutant results from its last run in ``root``: ``<module>.codes.json``, or the
    scratch copy's mutmut metadata (empty when it never ran)."""
    saved = root / f"{name}.codes.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    return stored_codes_from_scratch(root / name)


def alive(code: int | None) -> bool:
    return STATUS.get(code, "other") not in ("killed", "timeout", "skipped")


def run_module(name: str, spec: dict[str, Any], tests: list[str], root: Path, max_children: int,
               recheck: bool = False) -> dict[str, Any]:
    """Run mutmut over one module: its counts, survivors (the diffs of those not known equivalent in
    build/mutation/<module>/survivors.diff)
    and seconds. ``recheck``: only the mutants the module's last run in ``root`` left alive are run
    again (a test added never revives a killed mutant), except those the config calls equivalent;
    the others keep their result."""
    wait_for_timing_lock()
    pattern = spec.get("mutants")
    previous = stored_codes(root, name) if recheck else {}
    if pattern:
        previous = {k: v for k, v in previous.items() if fnmatch.fnmatchcase(k, pattern)}
    if recheck and not previous:
        raise SystemExit(f"{name}: --recheck needs a previous run in {root / name}")
    equivalent = spec.get("equivalent") or {}
    names = sorted(k for k, v in previous.items() if alive(v) and k not in equivalent) if recheck \
        else ([pattern] if pattern else [])
    started = time.monotonic()
    codes: dict[str, int | None] = dict(previous)
    work = root / name
    if not recheck or names:  # a recheck with nothing to run keeps the last scratch copy (for `mutmut show`)
        work = prepare(name, tests, spec, root)
        with open(work / "mutmut.log", "w") as log:
            subprocess.run([mutmut_bin(), "run", "--max-children", str(max_children), *names], cwd=work, stdout=log,
                           stderr=subprocess.STDOUT, check=False,
                           env=dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
        fresh = stored_codes_from_scratch(work)
        codes.update({k: v for k, v in fresh.items() if not recheck or k in names})
    seconds = time.monotonic() - started
    if pattern:
        codes = {k: v for k, v in codes.items() if fnmatch.fnmatchcase(k, pattern)}
    if not codes:
        raise SystemExit(f"{name}: mutmut produced no mutants; see {work / 'mutmut.log'}")
    (root / f"{name}.codes.json").write_text(json.dumps(codes, indent=0, sort_keys=True))
    counts = {"mutants": len(codes), "killed": 0, "survived": 0, "timeout": 0, "no_tests": 0, "skipped": 0,
              "other": 0}
    for code in codes.values():
        counts[STATUS.get(code, "other")] += 1
    survivors = sorted(k for k, v in codes.items() if alive(v))
    diffs = []
    for mutant in (s for s in survivors if s not in equivalent):
        shown = subprocess.run([mutmut_bin(), "show", mutant], cwd=work, capture_output=True, text=True, check=False)
        diffs.append(shown.stdout)
    (work / "survivors.diff").write_text("\n".join(diffs))
    return {**counts, "survivors": survivors, "seconds": round(seconds, 1), "rechecked": len(names) if recheck else None}


def stored_codes_from_scratch(work: Path) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def score(killed: int, timeout: int, mutants: int) -> float:
    return round(100.0 * (killed + timeout) / mutants, 1) if mutants else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated subset of the config's modules (default: all)")
    parser.add_argument("--record", choices=("before", "after"), default="after",
                        help="'before': this run is the score before new tests (default: after, keeping the stored before)")
    parser.add_argument("--out", default=str(REPO / "results" / "bench" / "mutation.json"))
    parser.add_argument("--workdir", default=str(REPO / "build" / "mutation"))
    parser.add_argument("--recheck", action="store_true",
                        help="run again only the mutants the last run (in --workdir) left alive, e.g. after adding tests")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (the machine has 2 cores)")
    args = parser.parse_args(argv)
    modules = yaml.safe_load(CONFIG.read_text())["modules"]
    chosen = args.modules.split(",") if args.modules else list(modules)
    unknown = sorted(set(chosen) - set(modules))
    if unknown:
        raise SystemExit(f"unknown modules {unknown}; known: {sorted(modules)}")
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    result = {"tool": f"mutmut {version('mutmut')}", "config": str(CONFIG.relative_to(REPO)),
              "score": "(killed + timeout) / mutants, %", "modules": dict(previous.get("modules", {}))}
    total_started = time.monotonic()
    for name in chosen:
        spec = modules[name]
        tests = test_selection(spec, before=args.record == "before")
        found = run_module(name, spec, tests, Path(args.workdir), args.max_children, recheck=args.recheck)
        equivalent = {k: v for k, v in (spec.get("equivalent") or {}).items() if k in found["survivors"]}
        now = score(found["killed"], found["timeout"], found["mutants"])
        entry = {"files": spec["files"], "mutants_glob": spec.get("mutants"), "tests": tests, **found,
                 "score": now, "score_excluding_equivalent": score(found["killed"], found["timeout"],
                                                                   found["mutants"] - len(equivalent)),
                 "equivalent": equivalent,
                 "survivors_not_equivalent": [s for s in found["survivors"] if s not in equivalent]}
        old = result["modules"].get(name, {})
        entry["full_run_seconds"] = old.get("full_run_seconds", old.get("seconds")) if args.recheck else found["seconds"]
        if args.record == "before":
            entry["before"] = {k: found[k] for k in ("mutants", "killed", "survived", "timeout", "no_tests")} | {"score": now}
        elif "before" in old:
            entry["before"] = old["before"]
        result["modules"][name] = entry
        current = json.loads(out.read_text()) if out.is_file() else {}
        result["modules"] = {**current.get("modules", {}), **{k: v for k, v in result["modules"].items() if k in chosen}}
        print(f"{name}: {found['mutants']} mutants, {found['killed']} killed, {found['survived']} survived, "
              f"{found['timeout']} timeout, {found['no_tests']} not reached by the tests, score {now}% ({found['seconds']} s)", flush=True)
        write_result(result | {"seconds_this_run": round(time.monotonic() - total_started, 1)}, str(out))


if __name__ == "__main__":
    main()
