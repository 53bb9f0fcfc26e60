"""actionlint on every GitHub workflow the project ships: its own and the one ``init`` writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .newcomer_helpers import REPO_ROOT

WORKFLOWS = [
    REPO_ROOT / ".github" / "workflows" / "keyvault.yml",
    REPO_ROOT / "infra" / "keyvault_platform" / "scaffold" / "templates" / "github-workflow.yml",
]


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("actionlint is not in the virtualenv: run `make venv` (requirements/dev.txt)")
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=["repository", "scaffold"])
def test_the_workflow_passes_actionlint(workflow: Path, tmp_path: Path) -> None:
    # actionlint reads a workflow as it would sit in .github/workflows/.
    checked = tmp_path / ".github" / "workflows" / "keyvault.yml"
    checked.parent.mkdir(parents=True)
    checked.write_text(workflow.read_text(encoding="utf-8"), encoding="utf-8")
    ran = subprocess.run(
        [_actionlint(), "-no-color", str(checked)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: an undefined job output and a bad expression are reported."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ steps.missing.outputs.x }\n",
        encoding="utf-8",
    )
    ran = subprocess.run(
        [_actionlint(), "-no-color", str(broken)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 1 and "broken.yml:6:" in ran.stdout
