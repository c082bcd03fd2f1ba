"""The replay commands stay light: `smartbert sweep` and `smartbert oracle` (hundreds of local jobs
beside Snakemake, on a login node), and `smartbert choose` (a selection's gathering job, local too),
never load torch, transformers or fvcore."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "fvcore")


@pytest.mark.parametrize("command", ["sweep", "oracle", "choose", "calibrate"])
def test_a_replay_command_loads_no_torch(command: str) -> None:
    code = (f"import sys; from smartbert.app import cli; import smartbert.app.commands.{command}; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr


def test_a_training_command_does_load_torch() -> None:  # the check above can see torch
    code = "import sys; import smartbert.app.commands.train; print('torch' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert found.stdout.strip() == "True"
