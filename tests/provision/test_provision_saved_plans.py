"""Saved provisioning plans, targets and approval: ``keyvault-platform provision`` on the emulator.

The command runs in this process against the emulator's Resource Manager
(the unmodified management SDKs over HTTPS); writes are counted in its
audit log.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path

from keyvault_platform.cli.provision import run

from .test_provision_emulator import WAITS, Result, env_text


def provision(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(args), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def fresh_environment(emulator, tmp_path: Path) -> Path:
    suffix = uuid.uuid4().hex[:10]
    path = tmp_path / "env.yaml"
    path.write_text(env_text(emulator, vault=f"kv-p{suffix}", group=f"rg-p{suffix}"))
    return path


def arm_writes(emulator, since: float) -> list[str]:
    return [r.operation for r in emulator.audit(plane="arm", since=since) if r.is_write]


def test_a_saved_plan_is_applied_exactly_and_refused_once_stale(emulator, tmp_path: Path) -> None:
    env = fresh_environment(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    planned = provision("--env", str(env), "--plan", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    saved = json.loads(plan_file.read_text(encoding="utf-8"))
    assert saved["command"] == "provision" and len(saved["changes"]) == 4
    assert all(c["action"] == "create" for c in saved["changes"])

    since = time.time()
    applied = provision("--from-plan", str(plan_file), "--auto-approve", *WAITS)
    assert applied.code == 0, applied.err
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in applied.out

    # A plan of a change, then the vault is changed by hand before its apply.
    text = env.read_text(encoding="utf-8").replace("tags: {env: test}", "tags: {env: staged}")
    env.write_text(text, encoding="utf-8")
    assert provision("--env", str(env), "--plan", "--out", str(plan_file)).code == 2
    name = text.split("vault:\n  name: ")[1].split("\n")[0]
    group = text.split("resource_group:\n  name: ")[1].split("\n")[0]
    client = emulator.keyvault_mgmt_client()
    vault = client.vaults.get(group, name)
    vault.tags = {"env": "by-hand"}
    body = {"location": vault.location, "properties": vault.properties, "tags": vault.tags}
    client.vaults.begin_create_or_update(group, name, body).result()
    client.close()
    since = time.time()
    refused = provision("--from-plan", str(plan_file), "--auto-approve", *WAITS)
    assert refused.code == 1
    assert "is stale" in refused.err and f"vault.{name}: changed" in refused.err, refused.err
    assert arm_writes(emulator, since) == []


def test_a_plan_is_refused_once_the_environment_file_changed(emulator, tmp_path: Path) -> None:
    env = fresh_environment(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert provision("--env", str(env), "--plan", "--out", str(plan_file)).code == 2
    env.write_text(env.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    since = time.time()
    refused = provision("--from-plan", str(plan_file), "--auto-approve", *WAITS)
    assert refused.code == 1 and "the input files changed" in refused.err, refused.err
    assert not emulator.audit(plane="arm", since=since)  # refused before any request


def test_a_target_that_needs_an_untargeted_change_is_refused(emulator, tmp_path: Path) -> None:
    env = fresh_environment(emulator, tmp_path)
    since = time.time()
    ran = provision("--env", str(env), "--target", "role_assignment.app-reads-secrets",
                    "--auto-approve", *WAITS)  # fmt: skip
    assert ran.code == 1
    assert "role_assignment.app-reads-secrets needs vault." in ran.out, ran.out
    assert "Add --target vault." in ran.out
    unknown = provision("--env", str(env), "--target", "role_assignment.app-read-secrets")
    assert unknown.code == 1
    assert "did you mean 'role_assignment.app-reads-secrets'?" in unknown.err, unknown.err
    assert arm_writes(emulator, since) == []


def test_targets_apply_a_subset(emulator, tmp_path: Path) -> None:
    env = fresh_environment(emulator, tmp_path)
    text = env.read_text(encoding="utf-8")
    group = text.split("resource_group:\n  name: ")[1].split("\n")[0]
    ran = provision("--env", str(env), "--target", f"resource_group.{group}", "--auto-approve",
                    "--no-verify", *WAITS)  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in ran.out
    rest = provision("--env", str(env), "--plan")
    assert rest.code == 2 and "Plan: 3 to add, 0 to change, 0 to destroy." in rest.out


def test_without_a_terminal_and_without_auto_approve_provisioning_refuses(
    emulator, tmp_path: Path
) -> None:
    env = fresh_environment(emulator, tmp_path)
    since = time.time()
    ran = provision("--env", str(env), *WAITS)
    assert ran.code == 1
    assert "refusing to apply without approval" in ran.err and "--auto-approve" in ran.err
    assert arm_writes(emulator, since) == []
