"""Provisioning's apply on the executor, through the library on the emulator (real SDK).

What the failure policy and Ctrl-C mean for provisioning: the vault
changed since the plan fails that change and skips its role assignments;
Ctrl-C stops the queued assignments and the result says which were made.
Writes are counted in the emulator's audit log, never timed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.core.executor import ApplyInterrupted, Status
from keyvault_platform.provision import ArmClients, apply, plan
from keyvault_platform.provision.apply import Timing

from .test_provision_emulator import Deployment

SECRETS = [f"acme--s{i}" for i in range(6)]


@pytest.fixture
def deployment(emulator, tmp_path: Path) -> Deployment:
    suffix = uuid.uuid4().hex[:10]
    found = Deployment(emulator, tmp_path / "env.yaml", f"kv-a{suffix}", f"rg-a{suffix}")
    found.write(
        access=(
            "  - name: outsider-reads\n"
            f"    principal_id: {found.emulator.object_id('outsider')}\n"
            "    role: Key Vault Secrets User\n"
            f"    scope: {{secrets: [{', '.join(SECRETS)}]}}\n"
        )
    )
    return found


@pytest.fixture
def arm(deployment: Deployment) -> Iterator[tuple[Environment, ArmClients]]:
    env = load_environment(deployment.path)
    target = env.target()
    clients = ArmClients(target)
    try:
        yield env, clients
    finally:
        clients.close()
        target.close()


TIMING = Timing(principal_wait_s=2, rbac_propagation_wait_s=0, first_delay_s=0.05)


def test_a_vault_changed_since_the_plan_fails_and_skips_its_assignments(
    deployment: Deployment, arm: tuple[Environment, ArmClients]
) -> None:
    env, clients = arm
    assert deployment.run("--no-verify").code == 0
    # The file now asks for other tags and one more grant ...
    deployment.path.write_text(
        deployment.path.read_text().replace(
            "  tags: {env: test}\n  on_soft", "  tags: {env: prod}\n  on_soft"
        )
        + "  - name: outsider-reads-vault\n"
        f"    principal_id: {deployment.emulator.object_id('outsider')}\n"
        "    role: Key Vault Reader\n"
    )
    env = load_environment(deployment.path)
    planned = plan(env, clients)
    assert {c.address for c in planned.plan.pending} == {
        f"vault.{deployment.vault}",
        "role_assignment.outsider-reads-vault",
    }
    # ... and someone changes the vault between the plan and the apply.
    from azure.mgmt.keyvault.models import VaultPatchParameters

    clients.keyvault.vaults.update(
        deployment.group, deployment.vault, VaultPatchParameters(tags={"env": "hand"})
    )
    marker = time.time()
    result = apply(planned, clients, timing=TIMING)
    (failed,) = result.failed
    assert failed.address == f"vault.{deployment.vault}"
    assert failed.error == (
        f"vault {deployment.vault!r} changed after the plan was made; nothing more was applied"
    )
    assert failed.hint == "run the command again to plan against the current state"
    (skipped,) = result.skipped
    assert skipped.address == "role_assignment.outsider-reads-vault"
    assert skipped.blocked_by == failed.address
    assert deployment.arm_writes(marker) == []


def test_ctrl_c_stops_queued_assignments_and_the_result_names_them(
    deployment: Deployment, arm: tuple[Environment, ArmClients]
) -> None:
    env, clients = arm
    planned = plan(env, clients)
    total = len(planned.plan.pending)  # group, vault, 2 + 6 assignments
    assert total == 10

    interrupted = []

    def progress(done: int, total: int, failed: int) -> None:
        # The group, the vault, and at least one assignment. ">=": the one
        # worker runs queued assignments back to back, so the count seen on
        # the calling thread can step over 3.
        if done >= 3 and not interrupted:
            interrupted.append(done)
            raise KeyboardInterrupt

    marker = time.time()
    with pytest.raises(ApplyInterrupted) as caught:
        apply(planned, clients, timing=TIMING, concurrency=1, progress=progress)
    result = caught.value.result
    assert result.interrupted and not result.failed and not result.skipped
    made = [w for w in deployment.arm_writes(marker) if w.operation == "RoleAssignmentPut"]
    succeeded = [r for r in result.succeeded if r.address.startswith("role_assignment.")]
    assert len(made) == len(succeeded) and 1 <= len(succeeded) < 8
    assert len(result.not_applied) == total - 2 - len(succeeded)
    assert all(r.status is Status.NOT_RUN for r in result.not_applied)

    # A re-plan shows exactly what was not applied.
    replanned = plan(env, clients)
    assert {c.address for c in replanned.plan.pending} == {r.address for r in result.not_applied}
