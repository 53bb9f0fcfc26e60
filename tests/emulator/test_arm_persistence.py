"""Resource Manager state survives an emulator restart on the same state directory."""

from __future__ import annotations

import uuid
from typing import Any

from keyvault_emulator.testing import RunningEmulator

from .arm_support import SECRETS_OFFICER, SECRETS_USER, assignment_parameters, vault_parameters


def test_groups_vaults_assignments_and_deleted_vaults_survive_a_restart(tmp_path):
    first = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        first.resource_client().resource_groups.create_or_update(
            "rg-kept", {"location": "westeurope", "tags": {"team": "platform"}}
        )
        vaults = first.keyvault_mgmt_client().vaults
        live = vaults.begin_create_or_update(
            "rg-kept", "kv-kept-live", vault_parameters(first)
        ).result()
        vaults.begin_create_or_update("rg-kept", "kv-kept-gone", vault_parameters(first)).result()
        vaults.delete("rg-kept", "kv-kept-gone")
        assignments = first.authorization_client().role_assignments
        officer = str(uuid.uuid4())
        reader = str(uuid.uuid4())
        assignments.create(
            live.id, officer, assignment_parameters(first, SECRETS_OFFICER, first.object_id("sync"))
        )
        assignments.create(
            live.id, reader, assignment_parameters(first, SECRETS_USER, first.object_id("app"))
        )
        first.secret_client(live.properties.vault_uri, "sync").set_secret("kept", "v1")
    finally:
        first.stop()

    second = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        group = second.resource_client().resource_groups.get("rg-kept")
        assert group.tags == {"team": "platform"}
        vaults = second.keyvault_mgmt_client().vaults
        again = vaults.get("rg-kept", "kv-kept-live")
        assert again.properties.vault_uri == live.properties.vault_uri
        assert again.properties.enable_purge_protection is True
        assert again.system_data.created_at == live.system_data.created_at
        assert vaults.get_deleted("kv-kept-gone", "westeurope").name == "kv-kept-gone"
        assignments = second.authorization_client().role_assignments
        kept = {a.name for a in assignments.list_for_scope(live.id, filter="atScope()")}
        assert {officer, reader} <= kept
        app = second.secret_client(again.properties.vault_uri, "app")
        assert app.get_secret("kept").value == "v1"
        recovered = vaults.begin_create_or_update(
            "rg-kept", "kv-kept-gone", vault_parameters(second, createMode="recover")
        ).result()
        assert recovered.properties.vault_uri.startswith("https://127.0.0.1:")
        writes = [r for r in second.audit(plane="arm") if r.is_write and r.status < 300]
        assert any(r.operation == "RoleAssignmentPut" for r in writes)  # audit persisted too
    finally:
        second.stop()


def test_arm_writes_survive_sigkill_and_admin_declares_identities(tmp_path):
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    from keyvault_emulator.testing import EmulatorProcess, IdentityBoundCredential

    def clients(child: EmulatorProcess) -> tuple[Any, Any, Any]:
        credential = IdentityBoundCredential(child.identity_env("deployer"))
        options = {
            "base_url": child.info["arm_url"],
            "credential_scopes": ["https://management.azure.com/.default"],
            "connection_verify": child.info["ca_path"],
        }
        subscription = child.info["subscription_id"]
        return (
            ResourceManagementClient(credential, subscription, **options),
            KeyVaultManagementClient(credential, subscription, **options),
            AuthorizationManagementClient(credential, subscription, **options),
        )

    child = EmulatorProcess(tmp_path).start()
    try:
        resources, keyvault, authorization = clients(child)
        resources.resource_groups.create_or_update("rg-killed", {"location": "westeurope"})
        body = vault_parameters_for(child.info["tenant_id"])
        vault = keyvault.vaults.begin_create_or_update("rg-killed", "kv-killed", body).result()
        fresh = child.admin("POST", "identities", {"name": "fresh-app", "replicate_after_s": 3600})
        assigned = authorization.role_assignments.create(
            vault.id,
            str(uuid.uuid4()),
            {
                "properties": {
                    "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/"
                    f"{SECRETS_USER}",
                    "principalId": fresh["object_id"],
                    "principalType": "ServicePrincipal",
                }
            },
        )
    finally:
        child.kill()
    child = EmulatorProcess(tmp_path).start()
    try:
        resources, keyvault, authorization = clients(child)
        assert resources.resource_groups.get("rg-killed").location == "westeurope"
        assert keyvault.vaults.get("rg-killed", "kv-killed").id == vault.id
        assert (
            authorization.role_assignments.get(vault.id, assigned.name).principal_id
            == (fresh["object_id"])
        )
    finally:
        child.stop()


def vault_parameters_for(tenant_id: str) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "properties": {
            "tenantId": tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": True,
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": True,
        },
    }
