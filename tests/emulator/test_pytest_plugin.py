"""The pytest plugin, as an app's own suite uses it: the example test, run from elsewhere.

examples/pytest_plugin/ is copied to a directory outside this repository and
run by pytest in a child process with nothing of this suite loaded (no
conftest, no PYTHONPATH): the fixtures come from the installed
keyvault-emulator distribution's ``pytest11`` entry point alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pytest_plugin"


def _app_environment() -> dict[str, str]:
    dropped = ("AZURE_", "IDENTITY_", "MSI_", "KEYVAULT_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for name in ("PYTHONPATH", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    return env


def test_the_example_test_passes_in_an_apps_own_directory(tmp_path: Path) -> None:
    project = tmp_path / "someapp"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        env=_app_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    shown = f"exit {ran.returncode}\n{ran.stdout}\n{ran.stderr}"
    assert ran.returncode == 0, shown
    assert "4 passed" in ran.stdout, shown
    assert "conftest" not in ran.stdout


def test_the_plugin_is_registered_by_the_distribution() -> None:
    from importlib.metadata import entry_points

    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("keyvault_emulator") == "keyvault_emulator.pytest_plugin"
