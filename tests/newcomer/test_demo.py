"""The README's demo command, exactly as written, on a fresh clone: twice.

The first run creates everything; the second finds it in place and says so.
Neither prints a secret value, and each stops the emulator it started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyvault_platform.core.messages import MessageType

from scripts.demo import DEMO_ENV_VALUES, DEMO_FILE_VALUES

from .newcomer_helpers import readme_command, run

NO_CHANGES = "No changes: the vault, its role assignments and secrets were already in place."


def _assert_common(output: str) -> None:
    for line in (
        "==> 1. Start the local Azure emulator",
        "==> 2. Provision infra/environments/local.yaml",
        "==> 3. Sync the example manifests",
        "==> 4. Run the example app as the managed identity 'app'",
        "1. read db-password for contoso: found contoso--db-password (value not shown)",
        "fell back to GLOBAL--session-signing-key",
        "3. read db-password for contoso again: from the cache",
        "4. write contoso--db-password: refused as expected: 403 Forbidden (ForbiddenByRbac)",
        '5. health: {"ok": true, "status": "ok"',
        "(stopped the emulator this demo started)",
        "vault kv-secrets-local: RBAC authorization, soft delete (90 days), purge protection",
        "9 secrets (org--name):",
        "Try next:",
    ):
        assert line in output, f"missing {line!r}"


def _assert_stopped(clone: Path) -> None:
    state = clone / ".state" / "emulator"
    assert (state / "state.sqlite3").exists(), "the emulator's state must persist"
    assert not (state / "emulator.json").exists(), "the demo must stop the emulator it started"


def test_readme_demo_command_twice(clone: Path, newcomer_env: dict[str, str]) -> None:
    command = readme_command("make demo")

    first = run(command, cwd=clone, env=newcomer_env)
    assert first.returncode == 0, first.describe()
    _assert_common(first.stdout)
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in first.stdout
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in first.stdout
    assert "Plan: 9 to add, 0 to change, 0 to destroy." in first.stdout
    assert "Apply complete! Resources: 9 added, 0 changed, 0 destroyed." in first.stdout
    assert "This run changed: provision: 4 added" in first.stdout
    _assert_stopped(clone)

    second = run(command, cwd=clone, env=newcomer_env)
    assert second.returncode == 0, second.describe()
    _assert_common(second.stdout)
    assert second.stdout.count("No changes. Everything matches the desired state.") == 2
    assert "Apply complete!" not in second.stdout
    assert NO_CHANGES in second.stdout
    _assert_stopped(clone)

    secrets = [*DEMO_ENV_VALUES.values(), *DEMO_FILE_VALUES.values()]
    for ran in (first, second):
        for value in secrets:
            assert value not in ran.stdout + ran.stderr, "a secret value was printed"


def test_demo_json_output_and_reuse_of_a_running_emulator(
    clone: Path, newcomer_env: dict[str, str]
) -> None:
    """`--output json` lines parse; a demo next to a running emulator uses it and leaves it up."""
    import signal
    import subprocess
    import time

    state = clone / ".state" / "emulator"
    emulator = subprocess.Popen(
        [
            ".venv/bin/python",
            "-m",
            "keyvault_emulator",
            "--state-dir",
            str(state),
            "serve",
            "--port",
            "0",
        ],
        cwd=clone,
        env=newcomer_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            if (state / "emulator.json").exists():
                break
            assert emulator.poll() is None, "the emulator exited"
            time.sleep(0.05)
        ran = run(".venv/bin/python -m scripts.demo --output json", cwd=clone, env=newcomer_env)
        assert ran.returncode == 0, ran.describe()
        messages = [json.loads(line) for line in ran.stdout.splitlines()]
        assert messages[0]["type"] == "version"
        assert all(m["type"] in {kind.value for kind in MessageType} for m in messages)
        steps = [m["step"] for m in messages if m["type"] == "demo_step"]
        assert steps == ["emulator", "provision", "sync", "app", "audit"]
        summary = messages[-1]
        assert summary["type"] == "demo_summary"
        assert len(summary["secrets"]) == 9
        assert "already running" not in ran.stdout  # JSON only on stdout
        assert emulator.poll() is None, "the demo stopped an emulator it did not start"
        assert (state / "emulator.json").exists()
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.wait(timeout=30)


def test_demo_whose_emulator_cannot_start_quotes_its_log(
    clone: Path, newcomer_env: dict[str, str], tmp_path: Path
) -> None:
    """The emulator exits while starting: the error says so, with its log's last lines."""
    state = tmp_path / "broken"
    state.mkdir()
    (state / "state.sqlite3").write_text("not a database", encoding="utf-8")
    ran = run(f".venv/bin/python -m scripts.demo --state-dir {state}", cwd=clone, env=newcomer_env)
    assert ran.returncode == 1, ran.describe()
    assert "error: the emulator exited with status 1 while starting" in ran.stderr
    assert "the emulator's log: .state/demo/emulator.log; its last lines:" in ran.stderr
    assert "file is not a database" in ran.stderr, ran.describe()
    assert "==> 2." not in ran.stdout
    assert not (state / "emulator.json").exists()
