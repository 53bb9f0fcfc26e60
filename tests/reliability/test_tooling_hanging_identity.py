"""``provision --plan`` and ``sync --plan`` fail in seconds, not hang, on a silent token endpoint.

The environment points at a state directory whose discovery file names the
running emulator's Resource Manager and CA but a token endpoint that accepts
connections and never answers. Each command runs as a pipeline runs it, a
child process; the test's timeout is a guard against a hang, not a
measurement (the commands end within the token timeouts, a few seconds).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keyvault_emulator.discovery import Discovery
from keyvault_emulator.testing import RunningEmulator

HANG_GUARD_S = 90


@pytest.mark.parametrize("command", ["provision", "sync"])
def test_a_silent_token_endpoint_is_a_clear_error_not_a_hang(
    command: str, emulator: RunningEmulator, silent_endpoint: str, tmp_path: Path
) -> None:
    published = Discovery.read(emulator.state_dir)
    state = tmp_path / "state"
    state.mkdir()
    dataclasses.replace(published, identity_endpoint=silent_endpoint).write(state)
    env = tmp_path / "env.yaml"
    env.write_text(
        f"""\
target: {{kind: emulator, state_dir: {state}}}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group: {{name: rg-silent, location: westeurope}}
vault: {{name: kv-silent}}
""",
        encoding="utf-8",
    )
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "GLOBAL.yaml").write_text(
        "scope: GLOBAL\nsecrets:\n  - name: k\n    value: {generate: {length: 32}}\n"
    )
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "AZURE_"))}
    try:
        ran = subprocess.run(
            [sys.executable, "-m", "keyvault_platform", "--chdir", str(tmp_path), command,
             "--env", str(env), "--plan"],
            capture_output=True, text=True, timeout=HANG_GUARD_S, env=child_env, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} --plan was still waiting after {HANG_GUARD_S} s")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "the emulator identity endpoint" in ran.stderr, ran.stderr
    assert "could not sign in:" in ran.stderr or "authentication failed:" in ran.stderr
    assert "did not answer" in ran.stderr and "`az login`" in ran.stderr
    assert "None" not in ran.stderr and "Traceback" not in ran.stderr
