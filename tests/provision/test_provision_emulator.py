"""End to end on the emulator: the real management SDK clients over HTTPS.

Each test provisions its own resource group and vault (vault names are
global), through ``keyvault-platform provision`` exactly as ``make provision`` runs
it, and checks the result through the SDK and the emulator's audit log.
Nothing here mocks the SDK or asserts on time.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyvault_platform.cli.provision import run
from keyvault_platform.config.environment import load_environment
from keyvault_platform.target.base import Target

WAITS = ["--principal-wait", "3", "--rbac-wait", "30"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def provision(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run([*args, "--auto-approve"], stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def env_text(
    emulator,
    *,
    vault: str,
    group: str,
    extra_vault: str = "",
    access: str = "",
    on_soft_deleted: str = "recover",
) -> str:
    return f"""\
target:
  kind: emulator
  state_dir: {emulator.state_dir}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group:
  name: {group}
  location: westeurope
  tags: {{env: test}}
vault:
  name: {vault}
  tags: {{env: test}}
  on_soft_deleted: {on_soft_deleted}
{extra_vault}access:
  - name: app-reads-secrets
    principal_id: {emulator.object_id("app")}
    role: Key Vault Secrets User
  - name: sync-writes-secrets
    principal_id: {emulator.object_id("sync")}
    role: Key Vault Secrets Officer
{access}"""


@dataclass
class Deployment:
    emulator: object
    path: Path
    vault: str
    group: str

    def write(self, **kwargs: str) -> None:
        self.path.write_text(env_text(self.emulator, vault=self.vault, group=self.group, **kwargs))

    def run(self, *args: str) -> Result:
        return provision("--env", str(self.path), *WAITS, *args)

    def target(self, identity: str = "deployer") -> Target:
        return load_environment(self.path).target(identity=identity)

    def arm_writes(self, since: float, *, identity: str | None = None) -> list:
        return [
            r
            for r in self.emulator.audit(plane="arm", since=since)
            if r.is_write
            and (identity is None or r.identity == identity)
            and (
                self.vault.lower() in r.resource.lower() or self.group.lower() in r.resource.lower()
            )
        ]


@pytest.fixture
def deployment(emulator, tmp_path: Path) -> Deployment:
    suffix = uuid.uuid4().hex[:10]
    found = Deployment(emulator, tmp_path / "env.yaml", f"kv-p{suffix}", f"rg-p{suffix}")
    found.write()
    return found


def assignment_triples(target: Target, scope: str) -> set[tuple[str, str]]:
    client = target.authorization_management()
    try:
        return {
            (a.principal_id, a.role_definition_id.rsplit("/", 1)[-1])
            for a in client.role_assignments.list_for_scope(scope, filter="atScope()")
            if a.scope.lower() == scope.lower()
        }
    finally:
        client.close()


SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"


def test_fresh_provision_then_second_run_makes_no_writes(emulator, deployment) -> None:
    first = deployment.run()
    assert first.code == 0, first.err + first.out
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in first.out
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in first.out
    assert "ok      app-reads-secrets can read secret metadata (vault)" in first.out

    target = deployment.target()
    client = target.keyvault_management()
    vault = client.vaults.get(deployment.group, deployment.vault)
    client.close()
    props = vault.properties
    assert props.enable_soft_delete and props.enable_purge_protection
    assert props.enable_rbac_authorization and props.soft_delete_retention_in_days == 90
    assert assignment_triples(target, vault.id) == {
        (emulator.object_id("app"), SECRETS_USER),
        (emulator.object_id("sync"), SECRETS_OFFICER),
    }

    # Verification read metadata only: listings, never a value.
    data_ops = {r.operation for r in emulator.audit(plane="data", vault=deployment.vault)}
    assert data_ops and "SecretGet" not in data_ops, data_ops

    marker = time.time()
    plan_only = deployment.run("--plan")
    assert plan_only.code == 0 and "No changes." in plan_only.out
    again = deployment.run()
    assert again.code == 0, again.err
    assert "No changes." in again.out and "Apply complete" not in again.out
    assert deployment.arm_writes(marker) == []


def test_json_output_for_pipelines(deployment) -> None:
    planned = deployment.run("--plan", "--output", "json")
    assert planned.code == 2
    lines = planned.json_lines()
    assert lines[0]["type"] == "version"
    assert [line["type"] for line in lines[1:]] == ["planned_change"] * 4 + ["change_summary"]
    assert lines[-1]["changes"]["add"] == 4

    applied = deployment.run("--output", "json")
    assert applied.code == 0, applied.err
    types = [line["type"] for line in applied.json_lines()]
    assert types.count("version") == 1 and types[0] == "version"
    assert types.count("apply_complete") == 4
    assert "verify_result" in types
    summaries = [line for line in applied.json_lines() if line["type"] == "change_summary"]
    assert [s["changes"]["operation"] for s in summaries] == ["plan", "apply"]


def test_drift_is_planned_back(emulator, deployment) -> None:
    assert deployment.run().code == 0
    target = deployment.target()
    from azure.mgmt.keyvault.models import Sku, VaultPatchParameters, VaultPatchProperties

    client = target.keyvault_management()
    vault = client.vaults.update(
        deployment.group,
        deployment.vault,
        VaultPatchParameters(
            tags={"env": "test", "edited": "by-hand"},
            properties=VaultPatchProperties(sku=Sku(family="A", name="premium")),
        ),
    )
    client.close()
    auth = target.authorization_management()
    for assignment in auth.role_assignments.list_for_scope(vault.id, filter="atScope()"):
        if assignment.principal_id == emulator.object_id("sync"):
            auth.role_assignments.delete(vault.id, assignment.name)
    auth.close()

    planned = deployment.run("--plan")
    assert planned.code == 2
    assert f"# vault.{deployment.vault} will be updated in place" in planned.out
    assert "# (Azure differs from the environment file)" in planned.out
    assert '~ sku: "premium" -> "standard"' in planned.out
    assert "+ role_assignment.sync-writes-secrets" in planned.out
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in planned.out

    assert deployment.run().code == 0
    assert deployment.run("--plan").code == 0


def test_undeclared_assignment_is_drift_and_pruned_only_when_asked(emulator, deployment) -> None:
    assert deployment.run().code == 0
    target = deployment.target()
    vault_id = load_environment(deployment.path).vault_resource_id
    emulator.assign_role("outsider", "Key Vault Reader", vault_id)

    shown = deployment.run("--plan")
    assert shown.code == 0  # drift warnings are not changes
    assert "not declared in the environment file" in shown.out
    assert "--prune-assignments" in shown.out

    pruned = deployment.run("--prune-assignments")
    assert pruned.code == 0, pruned.err
    assert "1 to destroy" in pruned.out
    assert (emulator.object_id("outsider"), "21090545-7ca7-4776-b22c-e363652d74d2") not in (
        assignment_triples(target, vault_id)
    )


def delete_vault(deployment: Deployment) -> None:
    client = deployment.target().keyvault_management()
    client.vaults.delete(deployment.group, deployment.vault)
    client.close()


def test_soft_deleted_vault_is_recovered_with_assignments(emulator, deployment) -> None:
    assert deployment.run().code == 0
    delete_vault(deployment)

    planned = deployment.run("--plan")
    assert planned.code == 2
    assert "will be recovered from soft delete" in planned.out
    assert "scheduled for purge" in planned.out
    assert "Plan: 1 to recover, 2 to add, 0 to change, 0 to destroy." in planned.out

    recovered = deployment.run()
    assert recovered.code == 0, recovered.err + recovered.out
    target = deployment.target()
    vault_id = load_environment(deployment.path).vault_resource_id
    assert len(assignment_triples(target, vault_id)) == 2
    assert "ok      app-reads-secrets can read secret metadata" in recovered.out
    assert deployment.run("--plan").code == 0


def set_sku_by_hand(deployment: Deployment, sku: str) -> None:
    from azure.mgmt.keyvault.models import Sku, VaultPatchParameters, VaultPatchProperties

    client = deployment.target().keyvault_management()
    try:
        client.vaults.update(
            deployment.group,
            deployment.vault,
            VaultPatchParameters(properties=VaultPatchProperties(sku=Sku(family="A", name=sku))),
        )
    finally:
        client.close()


def retag(deployment: Deployment, env: str) -> None:
    deployment.path.write_text(
        deployment.path.read_text().replace(
            "  tags: {env: test}\n  on_soft", f"  tags: {{env: {env}}}\n  on_soft"
        )
    )


def write_operations(deployment: Deployment, since: float) -> list[str]:
    return sorted(w.operation for w in deployment.arm_writes(since) if w.status < 400)


def test_recover_then_converge_are_two_planned_changes_applied_exactly(emulator, deployment):
    assert deployment.run().code == 0
    delete_vault(deployment)
    retag(deployment, "prod")  # the deleted vault's tags are known: {env: test}

    planned = deployment.run("--plan")
    assert planned.code == 2
    assert f"  ^ vault.{deployment.vault}\n" in planned.out
    assert f"# vault_settings.{deployment.vault} will be updated in place" in planned.out
    assert (
        f"  ~ vault_settings.{deployment.vault}\n"
        '      ~ tags: {"env": "test"} -> {"env": "prod"}\n'
    ) in planned.out
    assert "Plan: 1 to recover, 2 to add, 1 to change, 0 to destroy." in planned.out

    marker = time.time()
    applied = deployment.run()
    assert applied.code == 0, applied.err + applied.out
    assert "Apply complete! Resources: 1 recovered, 2 added, 1 changed, 0 destroyed." in (
        applied.out
    )
    # Exactly the plan: the recover, the update it showed, the two grants.
    assert write_operations(deployment, marker) == [
        "RoleAssignmentPut",
        "RoleAssignmentPut",
        "VaultPatch",
        "VaultPut",
    ]
    again = deployment.run("--plan")
    assert again.code == 0 and "No changes." in again.out


def test_a_recovered_setting_the_plan_could_not_show_is_not_applied(emulator, deployment):
    assert deployment.run().code == 0
    set_sku_by_hand(deployment, "premium")  # invisible once the vault is deleted
    delete_vault(deployment)
    retag(deployment, "prod")

    planned = deployment.run("--plan")
    assert "sku" not in planned.out.split("Plan:")[0].split("vault_settings")[1]

    marker = time.time()
    refused = deployment.run()
    assert refused.code == 1
    settings = f"vault_settings.{deployment.vault}"
    assert (
        f"  {settings}: update failed: not updated: the recovered vault's sku also differs "
        "from the environment file"
    ) in refused.out
    assert "hint: run the command again: it plans the whole update" in refused.out
    assert "Apply failed: 1 error; 3 of 4 changes applied." in refused.out
    # The recover and the grants stand; nothing unplanned was written.
    assert write_operations(deployment, marker) == [
        "RoleAssignmentPut",
        "RoleAssignmentPut",
        "VaultPut",
    ]

    replanned = deployment.run("--plan")
    assert f"# vault.{deployment.vault} will be updated in place" in replanned.out
    assert '~ sku: "premium" -> "standard"' in replanned.out
    assert '~ tags: {"env": "test"} -> {"env": "prod"}' in replanned.out
    assert deployment.run().code == 0
    assert deployment.run("--plan").code == 0


def test_a_recover_with_no_planned_update_warns_of_settings_it_could_not_see(emulator, deployment):
    assert deployment.run().code == 0
    set_sku_by_hand(deployment, "premium")
    delete_vault(deployment)

    planned = deployment.run("--plan")
    assert "vault_settings." not in planned.out
    marker = time.time()
    recovered = deployment.run("--no-verify")
    assert recovered.code == 0, recovered.err + recovered.out
    assert "Warning: recover: recovered; its sku differs from the environment file" in recovered.out
    assert "re-run to plan that update" in recovered.out
    assert "VaultPatch" not in write_operations(deployment, marker)
    assert '~ sku: "premium" -> "standard"' in deployment.run("--plan").out


def test_fail_policy_names_the_purge_date_and_writes_nothing(deployment) -> None:
    assert deployment.run().code == 0
    delete_vault(deployment)
    deployment.write(on_soft_deleted="fail")
    marker = time.time()
    failed = deployment.run()
    assert failed.code == 1
    assert "held by a soft-deleted vault, scheduled for purge" in failed.out
    assert deployment.arm_writes(marker) == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("  purge_protection: false\n", "purge protection cannot be turned off"),
        ("  soft_delete_retention_days: 30\n", "retention cannot change once set"),
        ("  rbac_authorization: false\n", "RBAC authorization cannot be turned off"),
    ],
)
def test_unsafe_changes_are_refused_at_plan_time(deployment, setting: str, message: str) -> None:
    assert deployment.run().code == 0
    deployment.write(extra_vault=setting)
    marker = time.time()
    for args in ((), ("--plan",)):
        refused = deployment.run(*args)
        assert refused.code == 1
        assert message in refused.out
        assert "nothing will be applied" in refused.out
    assert deployment.arm_writes(marker) == []


def test_unknown_principal_fails_clearly_within_the_bound(emulator, deployment) -> None:
    stranger = str(uuid.uuid4())
    deployment.write(
        access=(
            "  - name: stranger-reads\n"
            f"    principal_id: {stranger}\n"
            "    role: Key Vault Secrets User\n"
        )
    )
    failed = deployment.run("--principal-wait", "2")
    assert failed.code == 1
    assert "  role_assignment.stranger-reads: create failed: principal " + stranger in failed.out
    assert "not found in the directory" in failed.out
    assert "hint: check principal_id is the identity's object (principal) id" in failed.out
    # Reported once, and the independent grants were still made.
    assert (failed.out + failed.err).count("not found in the directory") == 1
    assert "Apply failed: 1 error; 4 of 5 changes applied." in failed.out
    assert "Apply complete" not in failed.out
    target = deployment.target()
    assert assignment_triples(target, load_environment(deployment.path).vault_resource_id) == {
        (emulator.object_id("app"), SECRETS_USER),
        (emulator.object_id("sync"), SECRETS_OFFICER),
    }


def existing_group(deployment: Deployment) -> str:
    """Create the deployment's resource group as the subscription Owner; returns its id."""
    from azure.mgmt.resource.resources.models import ResourceGroup

    resources = deployment.target().resource_management()
    try:
        group = resources.resource_groups.create_or_update(
            deployment.group, ResourceGroup(location="westeurope", tags={"env": "test"})
        )
    finally:
        resources.close()
    return str(group.id)


NO_RIGHTS = (
    "the deploying identity needs User Access Administrator or Owner on the resource group "
    "to create role assignments"
)


def test_deployer_without_user_access_administrator_is_refused_at_plan_time(
    emulator, deployment
) -> None:
    # A Contributor on the resource group: may manage the vault, not grant access.
    emulator.assign_role("outsider", "Contributor", existing_group(deployment))

    marker = time.time()
    planned = deployment.run("--plan", "--identity", "outsider")
    assert planned.code == 1, planned.err + planned.out
    assert NO_RIGHTS in planned.out
    assert (
        "the deploying identity may not create role assignments (no "
        f"Microsoft.Authorization/roleAssignments/write on resource group {deployment.group})"
    ) in planned.out
    assert "may not create the vault" not in planned.out  # Contributor may do that
    assert "Planning failed" in planned.out

    refused = deployment.run("--identity", "outsider")
    assert refused.code == 1
    assert NO_RIGHTS in refused.out and "Applying" not in refused.out
    # Nothing was written, not even the vault the plan would have created first.
    assert deployment.arm_writes(marker) == []
    asked = emulator.audit(plane="arm", since=marker, operation="PermissionsListForResourceGroup")
    assert {(r.identity, r.status) for r in asked} == {("outsider", 200)}

    # A pipeline reading JSON sees the refusal as a diagnostic line.
    again = deployment.run("--identity", "outsider", "--output", "json")
    assert again.code == 1
    lines = again.json_lines()
    assert [line["type"] for line in lines].count("version") == 1
    assert lines[0]["type"] == "version" and lines[-1]["type"] == "diagnostic"
    assert "change_summary" not in [line["type"] for line in lines]
    assert NO_RIGHTS in lines[-1]["diagnostic"]["detail"]
    assert deployment.arm_writes(marker) == []


def test_read_only_deployer_is_refused_vault_and_assignments(emulator, deployment) -> None:
    emulator.assign_role("outsider", "Reader", existing_group(deployment))
    marker = time.time()
    refused = deployment.run("--identity", "outsider")
    assert refused.code == 1
    assert "may not create the vault (no Microsoft.KeyVault/vaults/write" in refused.out
    assert "needs Contributor (or Owner) on the resource group to manage the vault" in refused.out
    assert "may not create role assignments" in refused.out and NO_RIGHTS in refused.out
    assert deployment.arm_writes(marker) == []


def test_owner_of_the_resource_group_still_provisions(emulator, deployment) -> None:
    emulator.assign_role("outsider", "Owner", existing_group(deployment))
    result = deployment.run("--identity", "outsider")
    assert result.code == 0, result.err + result.out
    assert "Error:" not in result.out
    env = load_environment(deployment.path)
    assert assignment_triples(deployment.target(), env.vault_resource_id) == {
        (emulator.object_id("app"), SECRETS_USER),
        (emulator.object_id("sync"), SECRETS_OFFICER),
    }
    # Converged: the next plan writes nothing, so it does not ask for permissions.
    marker = time.time()
    assert deployment.run("--plan", "--identity", "outsider").code == 0
    assert emulator.audit(plane="arm", since=marker, operation="PermissionsListForResource") == []


def test_existing_vault_is_checked_at_the_vault_scope(emulator, deployment) -> None:
    """Access administration granted on the vault alone is enough for its assignments."""
    assert deployment.run().code == 0
    env = load_environment(deployment.path)
    emulator.assign_role("outsider", "Reader", env.resource_group_id)
    emulator.assign_role("outsider", "User Access Administrator", env.vault_resource_id)
    deployment.write(
        access=f"""\
  - name: outsider-reads
    principal_id: {emulator.object_id("outsider")}
    role: Key Vault Reader
"""
    )
    marker = time.time()
    result = deployment.run("--identity", "outsider", "--no-verify")
    assert result.code == 0, result.err + result.out
    asked = emulator.audit(plane="arm", since=marker, operation="PermissionsListForResource")
    assert [r.status for r in asked] == [200]
    assert [w.operation for w in deployment.arm_writes(marker)] == ["RoleAssignmentPut"]


def test_permissions_api_failure_warns_and_falls_back_to_apply_time(
    emulator, deployment, arm_faults
) -> None:
    emulator.assign_role("outsider", "Contributor", existing_group(deployment))
    # 403 is not retried by the SDK: the permissions API denied.
    arm_faults(error_rate=1.0, statuses=(403,), operations={"PermissionsListForResourceGroup"})
    marker = time.time()
    failed = deployment.run("--identity", "outsider")
    assert failed.code == 1
    assert (
        "Warning: could not check the deploying identity's permissions before writing (403"
    ) in failed.out
    # The apply-time error: the vault was written, each assignment refused (each tried).
    assert f"hint: {NO_RIGHTS}" in failed.out
    assert "Apply failed: 2 errors; 1 of 3 changes applied." in failed.out
    writes = deployment.arm_writes(marker, identity="outsider")
    assert [w.operation for w in writes if w.status < 400] == ["VaultPut"]
    refused = [w for w in writes if w.operation != "VaultPut"]
    assert len(refused) == 2 and all(w.status == 403 for w in refused)


def test_plan_reports_missing_emulator_clearly(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        (Path(__file__).parents[2] / "infra/environments/local.yaml")
        .read_text()
        .replace("state_dir: .state/emulator", f"state_dir: {tmp_path / 'nothing'}")
    )
    result = provision("--env", str(path), "--plan")
    assert result.code == 1
    assert "the emulator is not running" in result.err and "make emulator" in result.err


@pytest.fixture
def slow_emulator(tmp_path: Path):
    """A second emulator whose role assignments take effect after a delay."""
    from emulator.config import EmulatorConfig
    from emulator.testing import RunningEmulator

    running = RunningEmulator(
        EmulatorConfig(rbac_propagation_delay_s=2.0, principal_replication_delay_s=30.0),
        state_dir=tmp_path / "slow-emulator",
        persist=False,
    )
    try:
        yield running
    finally:
        running.stop()


def test_rbac_propagation_delay_is_waited_out(slow_emulator, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:10]
    deployment = Deployment(slow_emulator, tmp_path / "env.yaml", f"kv-s{suffix}", f"rg-s{suffix}")
    deployment.write()
    result = deployment.run("-v")
    assert result.code == 0, result.err + result.out
    assert "ok      app-reads-secrets can read secret metadata (vault)" in result.out
    assert "waiting" in result.err  # it did have to wait


def test_rbac_propagation_bound_reports_who_is_denied(slow_emulator, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:10]
    deployment = Deployment(slow_emulator, tmp_path / "env.yaml", f"kv-s{suffix}", f"rg-s{suffix}")
    deployment.write()
    result = provision("--env", str(deployment.path), "--rbac-wait", "0")
    assert result.code == 1
    assert "identity app" in result.out and "still denied" in result.out
    assert "verification failed" in result.err


def test_new_principal_during_replication_delay_succeeds(emulator, deployment) -> None:
    """ARM would answer PrincipalNotFound for 10 minutes without principalType; we send it."""
    from emulator.config import Identity

    newcomer = Identity.named(f"new-app-{uuid.uuid4().hex[:8]}")
    emulator.server.call(emulator.world.add_identity, newcomer, replication_delay_s=600)
    deployment.write(
        access=(
            "  - name: newcomer-reads\n"
            f"    principal_id: {newcomer.object_id}\n"
            "    role: Key Vault Secrets User\n"
        )
    )
    result = deployment.run()
    assert result.code == 0, result.err + result.out
    target = deployment.target()
    vault_id = load_environment(deployment.path).vault_resource_id
    assert (newcomer.object_id, SECRETS_USER) in assignment_triples(target, vault_id)


def test_secret_scoped_grant_is_created_and_verified(emulator, deployment) -> None:
    deployment.write(
        access=(
            "  - name: outsider-reads-one\n"
            f"    principal_id: {emulator.object_id('outsider')}\n"
            "    role: Key Vault Secrets User\n"
            "    scope: {secrets: [acme--billing-key]}\n"
        )
    )
    result = deployment.run()
    assert result.code == 0, result.err + result.out
    assert "+ role_assignment.outsider-reads-one/acme--billing-key" in result.out
    assert "ok      outsider-reads-one can read secret metadata (secret acme--billing-key)" in (
        result.out
    )
    vault_id = load_environment(deployment.path).vault_resource_id
    scope = f"{vault_id}/secrets/acme--billing-key"
    assert (emulator.object_id("outsider"), SECRETS_USER) in assignment_triples(
        deployment.target(), scope
    )
    assert deployment.run("--plan").code == 0


def test_name_taken_elsewhere_is_refused_before_any_write(emulator, deployment) -> None:
    emulator.create_vault(deployment.vault, resource_group="rg-someone-else")
    marker = time.time()
    refused = deployment.run()
    assert refused.code == 1
    assert f"the vault name '{deployment.vault}' is already taken" in refused.out
    assert deployment.arm_writes(marker) == []


def test_resource_group_tags_set_by_others_are_kept(emulator, deployment) -> None:
    from azure.mgmt.resource.resources.models import ResourceGroup

    resources = deployment.target().resource_management()
    resources.resource_groups.create_or_update(
        deployment.group, ResourceGroup(location="westeurope", tags={"cost-center": "42"})
    )
    assert deployment.run().code == 0
    group = resources.resource_groups.get(deployment.group)
    resources.close()
    assert group.tags == {"cost-center": "42", "env": "test"}
    assert deployment.run("--plan").code == 0


@pytest.fixture
def arm_faults(emulator):
    """Faults on Resource Manager, cleared afterwards (tests in a worker run one by one)."""
    try:
        yield lambda **plan: emulator.set_faults(None, **plan)
    finally:
        emulator.clear_faults(None)


def test_transient_throttling_is_retried_by_the_sdk_policy(
    emulator, deployment, arm_faults
) -> None:
    arm_faults(
        error_rate=0.5,
        statuses=(429, 503),
        retry_after_s=1,
        seed=7,
        operations={"VaultPut", "RoleAssignmentPut"},
    )
    result = deployment.run("--no-verify")
    assert result.code == 0, result.err + result.out
    assert "Apply complete!" in result.out


def test_persistent_throttling_is_reported_after_retries(emulator, deployment, arm_faults) -> None:
    arm_faults(error_rate=1.0, statuses=(429,), retry_after_s=1, operations={"VaultPut"})
    marker = time.time()
    failed = deployment.run()
    assert failed.code == 1
    vault = f"vault.{deployment.vault}"
    assert f"  {vault}: create failed: could not create vault" in failed.out
    assert "429" in failed.out and "hint: Azure throttled the requests" in failed.out
    # The vault's failure skips its role assignments, and says so.
    assert (
        "Skipped (a change they depend on failed):\n"
        f"  + role_assignment.app-reads-secrets (needs {vault})\n"
        f"  + role_assignment.sync-writes-secrets (needs {vault})\n"
    ) in failed.out
    assert "Apply failed: 1 error; 1 of 4 changes applied." in failed.out
    assert "RoleAssignmentPut" not in {w.operation for w in deployment.arm_writes(marker)}


def test_contributor_can_converge_vault_properties(emulator, deployment) -> None:
    """RBAC authorization is always sent, but unchanged it needs no roleAssignments/write."""
    assert deployment.run().code == 0
    emulator.assign_role(
        "outsider", "Contributor", load_environment(deployment.path).resource_group_id
    )
    deployment.path.write_text(
        deployment.path.read_text().replace(
            "  tags: {env: test}\n  on_soft", "  tags: {env: prod}\n  on_soft"
        )
    )
    result = deployment.run("--identity", "outsider", "--no-verify")
    assert result.code == 0, result.err + result.out
    assert '~ tags: {"env": "test"} -> {"env": "prod"}' in result.out


def test_no_credential_material_in_output_or_logs(emulator, deployment) -> None:
    """Identity headers act as local credentials: never in output, logs or errors, even -vv."""
    from ..reliability.leakscan import LeakScanner

    info = emulator.info()
    scanner = LeakScanner(
        [entry["header"] for entry in info["identities"].values()], label="identity header"
    )
    scanner.add(info["admin_key"], label="admin key")
    with scanner.capture("provision -vv"):
        first = deployment.run("-vv")
        again = deployment.run("-vv", "--output", "json")
    assert first.code == 0 and again.code == 0
    for result in (first, again):
        scanner.scan_text("stdout", result.out)
        scanner.scan_text("stderr", result.err)
    scanner.assert_clean()
