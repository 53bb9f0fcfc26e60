"""Identities declared at run time are published at once and survive a restart.

A principal created in Entra ID does not vanish when the emulator restarts,
and other processes find it (``python -m keyvault_emulator env --identity``) through
the discovery file as they find the configured ones.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.discovery import Discovery
from keyvault_emulator.testing import RunningEmulator

from .arm_support import SECRETS_USER, assignment_parameters, create_vault, error_code, new_group

ROOT = Path(__file__).resolve().parents[2]


def _env_command(state_dir: Path, identity: str) -> subprocess.CompletedProcess[str]:
    command = ["env", "--identity", identity]
    return subprocess.run(
        [sys.executable, "-m", "keyvault_emulator", "--state-dir", str(state_dir), *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_declared_identity_is_published_to_the_discovery_file(tmp_path):
    emulator = RunningEmulator(state_dir=tmp_path)
    try:
        object_id = emulator.declare_identity("newapp")
        published = Discovery.read(tmp_path).identity("newapp")
        assert published.object_id == object_id
        result = _env_command(tmp_path, "newapp")
        assert result.returncode == 0, result.stderr
        assert f"IDENTITY_HEADER={published.header}" in result.stdout
        admin = emulator.admin("POST", "identities", {"name": "adminapp"})
        assert Discovery.read(tmp_path).identity("adminapp").object_id == admin["object_id"]
        token = emulator.credential("adminapp").get_token("https://vault.azure.net/.default")
        assert token.token
    finally:
        emulator.stop()


def test_declared_identities_survive_a_restart_with_their_replication_time(tmp_path):
    first = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        late = first.declare_identity("late-app", replicate_after_s=3600)
        known = first.declare_identity("known-app", replicate_after_s=0, principal_type="User")
        group = new_group(first)
        vault = create_vault(first, group)
    finally:
        first.stop()

    second = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        assert second.object_id("late-app") == late
        assert second.world.identity("known-app").principal_type == "User"
        assert {"late-app", "known-app"} <= set(Discovery.read(tmp_path).identities)
        assert _env_command(tmp_path, "late-app").returncode == 0
        assert second.credential("late-app").get_token("https://vault.azure.net/.default").token
        assignments = second.authorization_client().role_assignments
        with pytest.raises(HttpResponseError) as early:  # still replicating, as before
            assignments.create(
                vault.id, str(uuid.uuid4()), assignment_parameters(second, SECRETS_USER, late)
            )
        assert error_code(early.value) == "PrincipalNotFound"
        assigned = assignments.create(
            vault.id, str(uuid.uuid4()), assignment_parameters(second, SECRETS_USER, known)
        )
        assert assigned.principal_type == "User"
    finally:
        second.stop()
