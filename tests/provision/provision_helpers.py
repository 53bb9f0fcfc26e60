"""Builders for unit tests of the provisioning planner (pure, no network)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults

TENANT = "505e98a1-1937-5544-9101-666dc24d670c"
SUB = "d6d7404e-a81f-5a27-9f03-fc369126d9d8"
APP = "97885749-d675-5932-8882-432e09ee7a95"
SYNC = "da8846a1-530c-5981-8ea5-1c1b10c9e490"
OUTSIDER = "411502f3-ff3c-5190-bef5-c4c29a8ef7d5"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-unit"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv-unit"

ENV_TEXT = f"""\
target: {{kind: emulator}}
tenant_id: {TENANT}
subscription_id: {SUB}
resource_group: {{name: rg-unit, location: westeurope, tags: {{env: unit}}}}
vault:
  name: kv-unit
  tags: {{env: unit}}
  on_soft_deleted: recover
access:
  - name: app-reads
    principal_id: {APP}
    role: Key Vault Secrets User
  - name: sync-writes
    principal_id: {SYNC}
    role: Key Vault Secrets Officer
"""

ROLES = {
    "key vault secrets user": ra.RoleDefinition(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        (
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
    "key vault secrets officer": ra.RoleDefinition(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        ("Microsoft.KeyVault/vaults/secrets/*",),
    ),
    "reader": ra.RoleDefinition(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "Reader",
    ),
}


def environment(tmp_path: Path, text: str = ENV_TEXT) -> Environment:
    path = tmp_path / "unit.yaml"
    path.write_text(text)
    return load_environment(path)


def vault_wire(**overrides: Any) -> dict[str, Any]:
    """A vault GET response body as ARM sends it."""
    properties = {
        "tenantId": TENANT,
        "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [],
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": True,
        "enablePurgeProtection": True,
        "publicNetworkAccess": "Enabled",
        "networkAcls": {
            "bypass": "AzureServices",
            "defaultAction": "Allow",
            "ipRules": [],
            "virtualNetworkRules": [],
        },
        "vaultUri": "https://127.0.0.1:5000/",
        "provisioningState": "Succeeded",
    }
    properties.update(overrides.pop("properties", {}))
    body = {
        "id": VAULT_ID,
        "name": "kv-unit",
        "type": "Microsoft.KeyVault/vaults",
        "location": "westeurope",
        "tags": {"env": "unit"},
        "properties": properties,
    }
    body.update(overrides)
    return body


def vault_state(**overrides: Any) -> vaults.VaultState:
    from azure.mgmt.keyvault.models import Vault

    return vaults.VaultState.from_sdk(Vault(vault_wire(**overrides)))


def deleted_state(**overrides: Any) -> vaults.DeletedVaultState:
    base = vaults.DeletedVaultState(
        name="kv-unit",
        vault_id=VAULT_ID,
        location="westeurope",
        deletion_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        scheduled_purge_date=dt.datetime(2027, 1, 30, tzinfo=dt.UTC),
        purge_protection=True,
        tags={"env": "unit"},
    )
    return replace(base, **overrides)


def assignment(principal: str, role_key: str, scope: str = VAULT_ID, name: str | None = None):
    role = ROLES[role_key]
    return ra.AssignmentState(
        name=name or ra.assignment_name(scope, principal, role.id),
        id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name or 'x'}",
        scope=scope,
        principal_id=principal,
        principal_type="ServicePrincipal",
        role_definition_id=role.id,
    )
