"""A new vault that first answers ``RegisteringDns``, as Resource Manager's do.

The emulator is told to keep new vaults registering their DNS name for a
second; provisioning must wait through it (the SDK's poller reading the
vault), assign roles and verify as usual, and find nothing to do next time.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyvault_platform.cli.provision import run

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator

from .test_provision_emulator import env_text


@pytest.fixture
def registering(tmp_path: Path) -> Iterator[RunningEmulator]:
    running = RunningEmulator(
        EmulatorConfig(vault_dns_registration_s=1.0), state_dir=tmp_path / "emu", persist=False
    )
    try:
        yield running
    finally:
        running.stop()


def provision(path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["--env", str(path), "--principal-wait", "3", "--rbac-wait", "30", "--auto-approve",
                *args],
               stdout=out, stderr=err)  # fmt: skip
    return code, out.getvalue(), err.getvalue()


def test_provisioning_waits_for_dns_registration_then_converges(
    registering: RunningEmulator, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    vault, group = f"kv-dns{suffix}", f"rg-dns{suffix}"
    path = tmp_path / "env.yaml"
    path.write_text(env_text(registering, vault=vault, group=group))

    code, out, err = provision(path)
    assert code == 0, out + err
    assert "Apply complete! Resources: 4 added" in out
    assert "ok      app-reads-secrets can read secret metadata (vault)" in out

    operations = [r.operation for r in registering.audit(plane="arm", vault=vault)]
    put = operations.index("VaultPut")
    assert "VaultGet" in operations[put + 1 :]  # the poller read the vault until Succeeded
    with registering.keyvault_mgmt_client() as client:
        assert client.vaults.get(group, vault).properties.provisioning_state == "Succeeded"

    code, out, err = provision(path, "--plan")
    assert code == 0, out + err
    assert "No changes." in out
