"""Built-in role definitions with their real ids, actions and data actions.

Ids and permissions are Azure's published built-in roles (Azure RBAC
built-in roles reference). Control-plane roles (Owner, Contributor) carry no
data actions, which is why owning a subscription grants no secret access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class RoleDefinition:
    id: str  # the GUID name
    name: str  # roleName
    description: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def resource_id(self, scope: str = "") -> str:
        return f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{self.id}"

    def allows_action(self, action: str) -> bool:
        return _granted(action, self.actions, self.not_actions)

    def allows_data_action(self, action: str) -> bool:
        return _granted(action, self.data_actions, self.not_data_actions)


@lru_cache(maxsize=1024)
def _pattern(permission: str) -> re.Pattern[str]:
    return re.compile(
        "^" + ".*".join(re.escape(part) for part in permission.split("*")) + "$", re.IGNORECASE
    )


def _granted(action: str, allowed: tuple[str, ...], denied: tuple[str, ...]) -> bool:
    return any(_pattern(p).match(action) for p in allowed) and not any(
        _pattern(p).match(action) for p in denied
    )


_KV_CONTROL_READS = (
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
)

BUILT_IN_ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Owner",
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC.",
        actions=("*",),
    ),
    RoleDefinition(
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Contributor",
        "Grants full access to manage all resources, but does not allow you to assign roles "
        "in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions=("*",),
        not_actions=(
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
        ),
    ),
    RoleDefinition(
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "Reader",
        "View all resources, but does not allow you to make any changes.",
        actions=("*/read",),
    ),
    RoleDefinition(
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "User Access Administrator",
        "Lets you manage user access to Azure resources.",
        actions=("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"),
    ),
    RoleDefinition(
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
        "Perform all data plane operations on a key vault and all objects in it, including "
        "certificates, keys, and secrets. Cannot manage key vault resources or manage role "
        "assignments.",
        actions=_KV_CONTROL_READS,
        data_actions=("Microsoft.KeyVault/vaults/*",),
    ),
    RoleDefinition(
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        "Perform any action on the secrets of a key vault, except manage permissions.",
        actions=_KV_CONTROL_READS,
        data_actions=("Microsoft.KeyVault/vaults/secrets/*",),
    ),
    RoleDefinition(
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        "Read secret contents.",
        data_actions=(
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
    RoleDefinition(
        "21090545-7ca7-4776-b22c-e363652d74d2",
        "Key Vault Reader",
        "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read "
        "sensitive values such as secret contents or key material.",
        actions=_KV_CONTROL_READS,
        data_actions=(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
    RoleDefinition(
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "Role Based Access Control Administrator",
        "Manage access to Azure resources by assigning roles using Azure RBAC.",
        actions=(
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ),
    ),
)

_BY_ID = {role.id: role for role in BUILT_IN_ROLES}
_BY_NAME = {role.name.lower(): role for role in BUILT_IN_ROLES}


def role_by_id(role_id: str) -> RoleDefinition | None:
    """Look a role up by GUID or by full roleDefinitionId."""
    return _BY_ID.get(role_id.rstrip("/").rsplit("/", 1)[-1].lower())


def role_by_name(name: str) -> RoleDefinition | None:
    return _BY_NAME.get(name.lower())
