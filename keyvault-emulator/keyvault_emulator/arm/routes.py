"""Resource Manager's routes: a declarative table.

Each route names the operation (for the audit log and fault selection), the
handler (a method name on :class:`~emulator.arm.responses.ArmResponses`), the
API family whose api-versions it accepts, the Azure RBAC action the caller
needs and where that action is checked (the scope, built from path
parameters), and whether Resource Manager's limits count it as a write.
Paths are matched case-insensitively, as ARM does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..routing import match_route

KEYVAULT = "Microsoft.KeyVault"
AUTHORIZATION = "Microsoft.Authorization"
RESOURCES = "Microsoft.Resources"
SUBSCRIPTIONS = "subscriptions"
METADATA = "metadata"

# api-versions each family answers. The wire shapes the emulator serves are the
# same across these versions; defaults that changed (a new vault's RBAC mode)
# are handled by the responses.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    KEYVAULT: (
        "2015-06-01",
        "2016-10-01",
        "2018-02-14",
        "2019-09-01",
        "2021-10-01",
        "2022-07-01",
        "2022-11-01",
        "2023-02-01",
        "2023-07-01",
        "2024-11-01",
        "2025-05-01",
        "2026-02-01",
        "2026-05-15",
    ),
    AUTHORIZATION: (
        "2015-07-01",
        "2018-01-01-preview",
        "2018-09-01-preview",
        "2020-04-01-preview",
        "2020-08-01-preview",
        "2020-10-01-preview",
        "2021-04-01-preview",
        "2022-04-01",
        "2022-05-01-preview",
    ),
    RESOURCES: (
        "2015-11-01",
        "2016-09-01",
        "2018-05-01",
        "2019-10-01",
        "2020-06-01",
        "2021-04-01",
        "2022-09-01",
        "2023-07-01",
        "2024-03-01",
        "2024-07-01",
        "2024-11-01",
        "2025-03-01",
        "2025-04-01",
    ),
    # Cloud metadata: before 2019-05-01 one legacy object, then a list of clouds,
    # from 2022-09-01 the current cloud alone (what ``az cloud register`` reads).
    METADATA: ("2015-01-01", "2018-01-01", "2019-05-01", "2020-06-01", "2022-09-01"),
    SUBSCRIPTIONS: (
        "2016-06-01",
        "2019-11-01",
        "2020-01-01",
        "2021-01-01",
        "2022-12-01",
        "2024-08-01",
    ),
}

_SEGMENT = "[^/]+"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # audit operation name
    handler: str  # method name on ArmResponses
    family: str  # which api-versions apply
    action: str  # Azure RBAC action the caller needs ("" when none is checked here)
    scope: str  # format string over path parameters: where the action is checked
    is_write: bool
    resource_type: str  # for NoRegisteredProviderFound
    anonymous: bool = False  # served without a token (cloud metadata)


def _compile(path: str) -> re.Pattern[str]:
    regex = re.sub(
        r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{_SEGMENT})", path.replace(".", r"\.")
    )
    return re.compile(regex, re.IGNORECASE)


_SUB = "/subscriptions/{subscription}"
_RG = _SUB + "/resourceGroups/{group}"
_VAULT = _RG + "/providers/Microsoft.KeyVault/vaults/{vault}"
_DELETED = _SUB + "/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vault}"
_ANY_SCOPE = "(?P<scope>(?:/[^?]*?)?)"


def _route(
    method: str,
    path: str,
    operation: str,
    handler: str,
    family: str,
    action: str,
    scope: str,
    *,
    resource_type: str,
    is_write: bool | None = None,
    anonymous: bool = False,
) -> Route:
    if path.startswith("^"):
        pattern = re.compile(path, re.IGNORECASE)
    else:
        pattern = _compile("^" + path + "$")
    return Route(
        method,
        pattern,
        operation,
        handler,
        family,
        action,
        scope,
        method in ("PUT", "PATCH", "DELETE", "POST") if is_write is None else is_write,
        resource_type,
        anonymous,
    )


_RA = AUTHORIZATION + "/roleAssignments"
_RD = AUTHORIZATION + "/roleDefinitions"
_KV = KEYVAULT + "/vaults"
_RGS = RESOURCES + "/subscriptions/resourceGroups"

ROUTES: tuple[Route, ...] = (
    # -- Microsoft.Authorization at any scope -------------------------------------------
    *(
        _route(
            method,
            "^"
            + _ANY_SCOPE
            + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)$",
            operation,
            handler,
            AUTHORIZATION,
            action,
            "{scope}",
            resource_type="roleAssignments",
        )
        for method, operation, handler, action in (
            ("GET", "RoleAssignmentGet", "get_role_assignment", f"{_RA}/read"),
            ("PUT", "RoleAssignmentPut", "put_role_assignment", f"{_RA}/write"),
            ("DELETE", "RoleAssignmentDelete", "delete_role_assignment", f"{_RA}/delete"),
        )
    ),
    _route(
        "GET",
        "^" + _ANY_SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments$",
        "RoleAssignmentList",
        "list_role_assignments",
        AUTHORIZATION,
        f"{_RA}/read",
        "{scope}",
        resource_type="roleAssignments",
    ),
    *(
        _route(
            method,
            "^"
            + _ANY_SCOPE
            + r"/providers/Microsoft\.Authorization/roleDefinitions/(?P<name>[^/]+)$",
            operation,
            handler,
            AUTHORIZATION,
            action,
            "{scope}",
            resource_type="roleDefinitions",
        )
        for method, operation, handler, action in (
            ("GET", "RoleDefinitionGet", "get_role_definition", ""),
            ("PUT", "RoleDefinitionPut", "write_role_definition", f"{_RD}/write"),
            ("DELETE", "RoleDefinitionDelete", "write_role_definition", f"{_RD}/delete"),
        )
    ),
    _route(
        "GET",
        "^" + _ANY_SCOPE + r"/providers/Microsoft\.Authorization/roleDefinitions$",
        "RoleDefinitionList",
        "list_role_definitions",
        AUTHORIZATION,
        "",
        "{scope}",
        resource_type="roleDefinitions",
    ),
    # The caller's own effective permissions (Permissions_ListForResourceGroup and
    # Permissions_ListForResource). Any signed-in caller may ask about itself, so no
    # action is checked. The SDK writes "resourcegroups" in lower case and, for a
    # top-level resource, an empty parent path ("Microsoft.KeyVault//vaults/kv").
    _route(
        "GET",
        r"^(?P<scope>/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+))"
        r"/providers/Microsoft\.Authorization/permissions$",
        "PermissionsListForResourceGroup",
        "list_permissions",
        AUTHORIZATION,
        "",
        "{scope}",
        resource_type="permissions",
    ),
    _route(
        "GET",
        r"^(?P<scope>/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
        r"/providers/[^/]+/.+?)/providers/Microsoft\.Authorization/permissions$",
        "PermissionsListForResource",
        "list_permissions",
        AUTHORIZATION,
        "",
        "{scope}",
        resource_type="permissions",
    ),
    # -- Microsoft.KeyVault ----------------------------------------------------------------
    _route(
        "GET",
        _VAULT,
        "VaultGet",
        "get_vault",
        KEYVAULT,
        f"{_KV}/read",
        _VAULT,
        resource_type="vaults",
    ),
    _route(
        "PUT",
        _VAULT,
        "VaultPut",
        "put_vault",
        KEYVAULT,
        f"{_KV}/write",
        _VAULT,
        resource_type="vaults",
    ),
    _route(
        "PATCH",
        _VAULT,
        "VaultPatch",
        "patch_vault",
        KEYVAULT,
        f"{_KV}/write",
        _VAULT,
        resource_type="vaults",
    ),
    _route(
        "DELETE",
        _VAULT,
        "VaultDelete",
        "delete_vault",
        KEYVAULT,
        f"{_KV}/delete",
        _VAULT,
        resource_type="vaults",
    ),
    _route(
        "PUT",
        _VAULT + "/accessPolicies/{kind}",
        "VaultAccessPolicyPut",
        "put_access_policy",
        KEYVAULT,
        f"{_KV}/accessPolicies/write",
        _VAULT,
        resource_type="vaults/accessPolicies",
    ),
    _route(
        "GET",
        _RG + "/providers/Microsoft.KeyVault/vaults",
        "VaultList",
        "list_vaults",
        KEYVAULT,
        f"{_KV}/read",
        _RG,
        resource_type="vaults",
    ),
    _route(
        "GET",
        _SUB + "/providers/Microsoft.KeyVault/vaults",
        "VaultList",
        "list_vaults",
        KEYVAULT,
        f"{_KV}/read",
        _SUB,
        resource_type="vaults",
    ),
    _route(
        "GET",
        _SUB + "/providers/Microsoft.KeyVault/deletedVaults",
        "DeletedVaultList",
        "list_deleted_vaults",
        KEYVAULT,
        f"{KEYVAULT}/deletedVaults/read",
        _SUB,
        resource_type="deletedVaults",
    ),
    _route(
        "GET",
        _DELETED,
        "DeletedVaultGet",
        "get_deleted_vault",
        KEYVAULT,
        f"{KEYVAULT}/locations/deletedVaults/read",
        _DELETED,
        resource_type="locations/deletedVaults",
    ),
    _route(
        "POST",
        _DELETED + "/purge",
        "DeletedVaultPurge",
        "purge_deleted_vault",
        KEYVAULT,
        f"{KEYVAULT}/locations/deletedVaults/purge/action",
        _DELETED,
        resource_type="locations/deletedVaults",
    ),
    _route(
        "POST",
        _SUB + "/providers/Microsoft.KeyVault/checkNameAvailability",
        "CheckNameAvailability",
        "check_name_availability",
        KEYVAULT,
        f"{KEYVAULT}/checkNameAvailability/read",
        _SUB,
        resource_type="checkNameAvailability",
        is_write=False,
    ),
    _route(
        "GET",
        _RG + "/providers/Microsoft.KeyVault/managedHSMs",
        "ManagedHsmList",
        "list_managed_hsms",
        KEYVAULT,
        f"{KEYVAULT}/managedHSMs/read",
        _RG,
        resource_type="managedHSMs",
    ),
    _route(
        "GET",
        _SUB + "/providers/Microsoft.KeyVault/managedHSMs",
        "ManagedHsmList",
        "list_managed_hsms",
        KEYVAULT,
        f"{KEYVAULT}/managedHSMs/read",
        _SUB,
        resource_type="managedHSMs",
    ),
    _route(
        "GET",
        _SUB + "/providers/Microsoft.KeyVault/deletedManagedHSMs",
        "DeletedManagedHsmList",
        "list_managed_hsms",
        KEYVAULT,
        f"{KEYVAULT}/deletedManagedHsms/read",
        _SUB,
        resource_type="deletedManagedHSMs",
    ),
    # -- Microsoft.Resources -----------------------------------------------------------------
    _route(
        "GET",
        _RG,
        "ResourceGroupGet",
        "get_resource_group",
        RESOURCES,
        f"{_RGS}/read",
        _RG,
        resource_type="resourceGroups",
    ),
    _route(
        "HEAD",
        _RG,
        "ResourceGroupCheck",
        "check_resource_group",
        RESOURCES,
        f"{_RGS}/read",
        _RG,
        resource_type="resourceGroups",
    ),
    _route(
        "PUT",
        _RG,
        "ResourceGroupPut",
        "put_resource_group",
        RESOURCES,
        f"{_RGS}/write",
        _RG,
        resource_type="resourceGroups",
    ),
    _route(
        "PATCH",
        _RG,
        "ResourceGroupPatch",
        "patch_resource_group",
        RESOURCES,
        f"{_RGS}/write",
        _RG,
        resource_type="resourceGroups",
    ),
    _route(
        "DELETE",
        _RG,
        "ResourceGroupDelete",
        "delete_resource_group",
        RESOURCES,
        f"{_RGS}/delete",
        _RG,
        resource_type="resourceGroups",
    ),
    _route(
        "GET",
        _SUB + "/resourceGroups",
        "ResourceGroupList",
        "list_resource_groups",
        RESOURCES,
        f"{_RGS}/read",
        _SUB,
        resource_type="resourceGroups",
    ),
    _route(
        "GET",
        _SUB + "/resources",
        "ResourceList",
        "list_resources",
        RESOURCES,
        f"{RESOURCES}/subscriptions/resources/read",
        _SUB,
        resource_type="resources",
    ),
    _route(
        "GET",
        _RG + "/resources",
        "ResourceList",
        "list_resources",
        RESOURCES,
        f"{RESOURCES}/subscriptions/resourceGroups/resources/read",
        _RG,
        resource_type="resources",
    ),
    _route(
        "GET",
        _SUB + "/providers",
        "ProviderList",
        "list_providers",
        RESOURCES,
        f"{RESOURCES}/subscriptions/providers/read",
        _SUB,
        resource_type="providers",
    ),
    _route(
        "GET",
        _SUB + "/providers/{namespace}",
        "ProviderGet",
        "get_provider",
        RESOURCES,
        f"{RESOURCES}/subscriptions/providers/read",
        _SUB,
        resource_type="providers",
    ),
    _route(
        "GET",
        "/metadata/endpoints",
        "MetadataEndpoints",
        "metadata_endpoints",
        METADATA,
        "",
        "",
        resource_type="metadata",
        anonymous=True,
    ),
    _route(
        "GET",
        _SUB,
        "SubscriptionGet",
        "get_subscription",
        SUBSCRIPTIONS,
        "",
        _SUB,
        resource_type="subscriptions",
    ),
    _route(
        "GET",
        "/subscriptions",
        "SubscriptionList",
        "list_subscriptions",
        SUBSCRIPTIONS,
        "",
        "",
        resource_type="subscriptions",
    ),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists at all.

    Leading slashes collapse: clients join an endpoint that ends in ``/`` with a
    path that begins with one (``az cloud register`` reads ``//metadata/...``).
    """
    path = "/" + path.lstrip("/")
    return match_route(ROUTES, method, path.rstrip("/") or "/")


def scope_for(route: Route, params: dict[str, str]) -> str:
    """Where the route's action is checked, with the request's own spelling."""
    template = route.scope
    if template == "{scope}":
        return params.get("scope", "") or "/"
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), ""), template)


_PROVIDER_PATH = re.compile(
    r"^(?:/subscriptions/[^/]+(?:/resourceGroups/[^/]+)?)?/providers/(?P<namespace>[^/]+)"
    r"(?:/(?P<type>[^/]+))?",
    re.IGNORECASE,
)
SERVED_NAMESPACES = {KEYVAULT.lower(): KEYVAULT, AUTHORIZATION.lower(): AUTHORIZATION}


def provider_of(path: str) -> tuple[str, str] | None:
    """(namespace, type) for a provider path that no route served."""
    found = _PROVIDER_PATH.match(path)
    if not found:
        return None
    return found.group("namespace"), found.group("type") or ""
