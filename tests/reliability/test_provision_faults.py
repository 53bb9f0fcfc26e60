"""Provisioning under Resource Manager throttling and transient errors converges.

``keyvault-platform provision`` runs as ``make provision`` runs it (the unmodified
management clients through the target's retry policy) while the emulator's
ARM plane injects, seeded, 20% errors (500, 503 and 429 with
``Retry-After: 1``) and 3% dropped connections, and its per-principal write
limit is lowered so real 429s happen too. The promise: it ends with exit 0,
or exit 1 and a re-run (faults still on) finishes the job; then, faults off,
a run plans no changes and makes no ARM write, and the vault and its role
assignments are what the file says.
"""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.cli.provision import run
from keyvault_platform.config.environment import load_environment

WAITS = ["--principal-wait", "5", "--rbac-wait", "60"]
MAX_RUNS = 4


def env_text(emulator: Any, vault: str, group: str) -> str:
    return f"""\
target:
  kind: emulator
  state_dir: {emulator.state_dir}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group:
  name: {group}
  location: westeurope
vault:
  name: {vault}
  soft_delete_retention_days: 30
  tags: {{env: reliability}}
access:
  - name: app-reads-secrets
    principal_id: {emulator.object_id("app")}
    role: Key Vault Secrets User
  - name: sync-writes-secrets
    principal_id: {emulator.object_id("sync")}
    role: Key Vault Secrets Officer
  - name: outsider-reads-one
    principal_id: {emulator.object_id("outsider")}
    role: Key Vault Secrets User
    scope: {{secrets: [GLOBAL--shared]}}
"""


def provision(path: Path, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(
        ["--env", str(path), *WAITS, "--auto-approve", *args], stdout=out, stderr=err
    )
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("seed", [1, 2])
def test_provisioning_converges_under_arm_faults(emulator, tmp_path: Path, seed: int) -> None:
    suffix = uuid.uuid4().hex[:10]
    vault, group = f"kv-f{suffix}", f"rg-f{suffix}"
    path = tmp_path / "env.yaml"
    path.write_text(env_text(emulator, vault, group))
    started = time.time()
    codes = []
    emulator.set_arm_throttling(writes=4, window_s=2.0)
    try:
        for attempt in range(MAX_RUNS):
            emulator.set_faults(
                None,
                error_rate=0.20,
                statuses=(500, 503, 429),
                retry_after_s=1,
                drop_rate=0.03,
                seed=100 * seed + attempt,
            )
            try:
                code, output = provision(path)
            finally:
                emulator.clear_faults(None)
            codes.append(code)
            assert code in (0, 1), output[-3000:]
            if code == 0:
                break
        else:
            pytest.fail(f"no convergence in {MAX_RUNS} runs: {codes}")
    finally:
        emulator.set_arm_throttling()
    records = emulator.audit(plane="arm", since=started)
    injected = sum(r.status in (0, 500, 503) for r in records)
    throttled = sum(r.status == 429 for r in records)
    print(
        f"seed {seed}: exit codes {codes}; {len(records)} ARM requests, "
        f"{injected} injected errors/drops, {throttled} 429s"
    )
    assert injected + throttled > 0  # the faults were really met

    # converged: a clean run plans nothing, writes nothing
    since = time.time()
    code, output = provision(path)
    assert code == 0 and "No changes." in output, output[-2000:]
    writes = [r for r in emulator.audit(plane="arm", since=since) if r.is_write]
    assert writes == []

    # and the vault is what the file says
    env = load_environment(path)
    client = env.target().keyvault_management()
    try:
        found = client.vaults.get(group, vault)
    finally:
        client.close()
    assert found.properties.enable_purge_protection is True
    assert found.properties.enable_rbac_authorization is True
    assert found.properties.soft_delete_retention_in_days == 30
    authorization = env.target().authorization_management()
    try:
        principals = {
            a.principal_id
            for a in authorization.role_assignments.list_for_scope(found.id, filter="atScope()")
        }
    finally:
        authorization.close()
    assert {emulator.object_id("app"), emulator.object_id("sync")} <= principals
