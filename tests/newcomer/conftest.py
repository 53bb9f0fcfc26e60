"""A fresh clone of the repository, as a newcomer gets it, sharing the built virtualenv.

Why share the virtualenv: creating one and installing the Azure SDK takes a
minute or two and needs the network; CI has just built it for `make test`.
The clone gets ``.venv`` as a symlink to it, and its ``pyproject.toml`` files
and the lock are dated before the venv's ``.installed`` stamp (a fresh clone's files are
all "new", which would make `make` reinstall, into the shared venv, from the
clone). Everything else is the clone's own: its Makefile, scripts, emulator
state under its own ``.state/``; ``PYTHONPATH`` makes its code win over the
editable installs, which point at the working tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .newcomer_helpers import REPO_ROOT, newcomer_environment


def _shared_venv() -> Path:
    venv = Path(sys.prefix)
    if sys.prefix == sys.base_prefix:
        pytest.fail("not running in a virtualenv; run the suite with `make test`")
    if not (venv / ".installed").exists():
        pytest.fail(f"{venv}/.installed is missing; run the suite with `make test`")
    return venv


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``git clone`` of the working repository's HEAD (commit first to test a change)."""
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.fail("git and make are needed to replay the README on a clone")
    venv = _shared_venv()
    target = tmp_path_factory.mktemp("newcomer") / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(target)],
        check=True,
        capture_output=True,
    )
    (target / ".venv").symlink_to(venv, target_is_directory=True)
    stamp = (venv / ".installed").stat().st_mtime
    for name in (
        "pyproject.toml",
        "runtime/pyproject.toml",
        "keyvault-emulator/pyproject.toml",
        "requirements/dev.txt",
    ):
        os.utime(target / name, (stamp - 60, stamp - 60))
    # Guard: `make` must consider the venv up to date, or it would reinstall
    # into the shared venv. `make -q` answers without running anything.
    check = subprocess.run(
        ["make", "-q", ".venv/.installed"],
        cwd=target,
        env=newcomer_environment(target),
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, "make would rebuild the shared virtualenv from the clone"
    return target


@pytest.fixture(scope="module")
def newcomer_env(clone: Path) -> dict[str, str]:
    return newcomer_environment(clone)
