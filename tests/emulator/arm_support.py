"""Helpers shared by the ARM integration tests (not a test module)."""

from __future__ import annotations

import uuid
from typing import Any

from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

KV_API = "2026-05-15"
AUTH_API = "2022-04-01"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def vault_parameters(emulator: RunningEmulator, **properties: Any) -> dict[str, Any]:
    """A vault PUT body with the project's safe defaults; ``None`` drops a property."""
    wanted: dict[str, Any] = {
        "tenantId": emulator.tenant_id,
        "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": True,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 7,
        "enablePurgeProtection": True,
    }
    wanted.update(properties)
    return {
        "location": "westeurope",
        "properties": {k: v for k, v in wanted.items() if v is not None},
    }


def new_group(emulator: RunningEmulator, prefix: str = "rg") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    emulator.resource_client().resource_groups.create_or_update(name, {"location": "westeurope"})
    return name


def create_vault(
    emulator: RunningEmulator, group: str, name: str | None = None, **properties: Any
) -> Any:
    client = emulator.keyvault_mgmt_client()
    name = name or unique_vault_name()
    return client.vaults.begin_create_or_update(
        group, name, vault_parameters(emulator, **properties)
    ).result()


def role_definition_id(emulator: RunningEmulator, guid: str) -> str:
    return (
        f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{guid}"
    )


def assignment_parameters(
    emulator: RunningEmulator, role: str, principal_id: str, principal_type: str | None = None
) -> dict[str, Any]:
    properties = {
        "roleDefinitionId": role_definition_id(emulator, role),
        "principalId": principal_id,
    }
    if principal_type is not None:
        properties["principalType"] = principal_type
    return {"properties": properties}


def error_code(error: HttpResponseError) -> str:
    return error.error.code if error.error is not None else ""
