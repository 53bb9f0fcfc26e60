"""From a wheel, in a fresh virtual environment, with the checkout out of reach.

What a platform team does on day one: install the tool, scaffold its own
config repository, validate it, and plan and apply on the emulator. Every
process here runs the fresh environment's interpreter with an audit hook
that refuses to open any file of this checkout, so a path computed from the
code's location, or a schema read from the source tree, fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
# What a source distribution holds (no .git, no venv, no state).
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".state", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)

GUARD = textwrap.dedent(
    """
    import os, sys

    _CHECKOUT = os.environ.get("KVP_TEST_FORBIDDEN_ROOT", "")

    def _inside(path):
        try:
            text = os.fsdecode(path)
        except TypeError:
            return False
        full = os.path.realpath(text) if text else text
        return bool(_CHECKOUT) and (full == _CHECKOUT or full.startswith(_CHECKOUT + os.sep))

    def _guard(event, args):
        if event in ("open", "os.listdir", "os.scandir") and args and _inside(args[0]):
            raise PermissionError(f"read from the source checkout: {args[0]}")

    sys.addaudithook(_guard)
    """
)


def _clean_environment(forbidden: Path) -> dict[str, str]:
    dropped = ("AZURE_", "IDENTITY_", "MSI_", "KEYVAULT_", "ORGSECRETS_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    env["KVP_TEST_FORBIDDEN_ROOT"] = os.path.realpath(forbidden)
    env["NO_COLOR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _shown(ran: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(ran.args)}\nexit {ran.returncode}\n{ran.stdout}\n{ran.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A venv outside the checkout with the tool installed from freshly built wheels."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    shutil.copytree(CHECKOUT, source, ignore=SOURCE_IGNORE, symlinks=True)
    wheels = work / "wheels"
    for project in (source, source / "runtime"):
        built = _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
            cwd=project,
            env=_clean_environment(CHECKOUT),
        )
        assert built.returncode == 0, _shown(built)
    shutil.rmtree(source)  # nothing of the sources is left to read
    venv = work / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], cwd=work, env=os.environ.copy())
    assert created.returncode == 0, _shown(created)
    python = venv / "bin" / "python"
    env = _clean_environment(CHECKOUT)
    install = _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--find-links",
            str(wheels),
            "keyvault-platform",
        ],
        cwd=work,
        env=env,
        timeout=600,
    )
    assert install.returncode == 0, _shown(install)
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=work,
            env=env,
        ).stdout.strip()
    )
    (site / "kvp_test_guard.py").write_text(GUARD, encoding="utf-8")
    (site / "kvp_test_guard.pth").write_text("import kvp_test_guard\n", encoding="utf-8")
    yield venv, env


def test_the_wheel_ships_its_data_and_no_generic_top_level_packages(
    installed: tuple[Path, dict[str, str]],
) -> None:
    venv, env = installed
    probe = _run(
        [
            str(venv / "bin/python"),
            "-c",
            textwrap.dedent(
                """
            import importlib.metadata as m, json
            import keyvault_platform, emulator, orgsecrets
            from keyvault_platform import schemas
            files = [str(f) for f in m.files("keyvault-platform")]
            print(json.dumps({
                "modules": [keyvault_platform.__file__, emulator.__file__, orgsecrets.__file__],
                "tops": sorted({f.split("/")[0] for f in files if "/" in f}),
                "schema": len(schemas.schema_text(schemas.SECRETS)),
                "version": keyvault_platform.__version__,
            }))
            """
            ),
        ],
        cwd=venv,
        env=env,
    )
    assert probe.returncode == 0, _shown(probe)
    found = json.loads(probe.stdout)
    assert all(path.startswith(str(venv)) for path in found["modules"]), found
    tops = [t for t in found["tops"] if not t.endswith((".dist-info", ".data")) and t != ".."]
    assert sorted(tops) == ["emulator", "keyvault_platform"], tops
    assert found["schema"] > 1000
    assert found["version"] != "0+unknown"


def test_the_guard_refuses_to_read_the_checkout(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    probe = _run(
        [str(venv / "bin/python"), "-c", f"open({str(CHECKOUT / 'README.md')!r})"],
        cwd=venv,
        env=env,
    )
    assert probe.returncode != 0 and "read from the source checkout" in probe.stderr


def test_scaffold_validate_plan_and_apply_from_the_installed_tool(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = installed
    kvp = str(venv / "bin" / "keyvault-platform")
    config = tmp_path / "team-config"
    for command in ([kvp, "init", str(config), "--org", "acme"], [kvp, "validate"]):
        ran = _run(command, cwd=config if command[1] == "validate" else tmp_path, env=env)
        assert ran.returncode == 0, _shown(ran)
    state = config / ".state" / "emulator"
    emulator = subprocess.Popen(
        [kvp, "emulator", "--state-dir", ".state/emulator", "serve", "--port", "0"],
        cwd=config,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_discovery(state, emulator)
        steps = [
            (["provision", "--env", "local", "--plan"], 2, "Plan: 4 to add"),
            (
                ["provision", "--env", "local", "--auto-approve"],
                0,
                "Apply complete! Resources: 4 added",
            ),
            (["sync", "--env", "local", "--plan"], 2, "Plan: 3 to add"),
            (["sync", "--env", "local", "--auto-approve"], 0, "Apply complete! Resources: 3 added"),
            (["sync", "--env", "local", "--plan"], 0, "No changes."),
            (["provision", "--env", "local", "--plan"], 0, "No changes."),
        ]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for argv, code, expected in steps:
            # From another directory, through --chdir, as a pipeline step might.
            ran = _run([kvp, "--chdir", str(config), *argv], cwd=elsewhere, env=env)
            assert ran.returncode == code, _shown(ran)
            assert expected in ran.stdout, _shown(ran)
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            _, stderr = emulator.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            _, stderr = emulator.communicate()
    assert "read from the source checkout" not in (stderr or "")


def _wait_for_discovery(state: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    discovery = state / "emulator.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the emulator exited {process.returncode}: {process.stderr}")
        try:
            if json.loads(discovery.read_text(encoding="utf-8")).get("pid") == process.pid:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("the emulator did not start within 60 s")
