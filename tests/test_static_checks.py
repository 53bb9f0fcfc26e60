"""The static checks `make lint` runs hold on every commit, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["mypy", "--strict", "runtime/orgsecrets"],
        ["mypy", "--strict", "infra/keyvault_platform", "emulator", "scripts"],
    ],
    ids=["ruff", "mypy-strict-runtime", "mypy-strict-tooling"],
)
def test_static_check_passes(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
