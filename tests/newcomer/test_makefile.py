"""The Makefiles' environment variables: KVP_ENV (not ENV), and STATE only when given.

``make -n`` prints the commands a target would run without running them, so
these read what the Makefile really passes to the tool.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .newcomer_helpers import REPO_ROOT

SCAFFOLD_MAKEFILE = (
    REPO_ROOT / "infra" / "keyvault_platform" / "scaffold" / "templates" / "Makefile"
)


def _dry_run(makefile: Path, *words: str, environ: dict[str, str] | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "KVP_ENV", "STATE")}
    env.update(environ or {})
    ran = subprocess.run(
        ["make", "-n", "-s", "-f", str(makefile), "-C", str(REPO_ROOT), *words],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return [line for line in ran.stdout.splitlines() if "keyvault-platform " in line]


@pytest.mark.parametrize(
    "makefile", [REPO_ROOT / "Makefile", SCAFFOLD_MAKEFILE], ids=["repo", "scaffold"]
)
@pytest.mark.parametrize("target", ["plan", "provision", "sync-plan", "sync"])
def test_the_environment_files_state_dir_holds_unless_state_is_given(
    makefile: Path, target: str
) -> None:
    (line,) = _dry_run(makefile, target, "KVP_ENV=environments/mine.yaml")
    assert "--env environments/mine.yaml" in line
    assert "--state-dir" not in line, "the file's target.state_dir must hold"

    (line,) = _dry_run(makefile, target, "KVP_ENV=local", "STATE=/tmp/elsewhere")
    assert "--state-dir /tmp/elsewhere" in line


@pytest.mark.parametrize(
    "makefile", [REPO_ROOT / "Makefile", SCAFFOLD_MAKEFILE], ids=["repo", "scaffold"]
)
def test_an_exported_env_variable_is_not_the_environment(makefile: Path) -> None:
    # Pipelines and login shells export ENV (POSIX sh reads it at start-up).
    (line,) = _dry_run(makefile, "plan", environ={"ENV": "prod"})
    assert "--env local" in line
    (line,) = _dry_run(makefile, "plan", environ={"KVP_ENV": "prod"})
    assert "--env prod" in line


@pytest.mark.parametrize(
    "makefile", [REPO_ROOT / "Makefile", SCAFFOLD_MAKEFILE], ids=["repo", "scaffold"]
)
def test_the_emulator_targets_default_to_the_local_state_dir(makefile: Path) -> None:
    (line,) = _dry_run(makefile, "emulator")
    assert "--state-dir .state/emulator" in line
    (line,) = _dry_run(makefile, "emulator", "STATE=/tmp/elsewhere")
    assert "--state-dir /tmp/elsewhere" in line
