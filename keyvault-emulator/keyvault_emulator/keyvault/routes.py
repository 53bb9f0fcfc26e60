"""The secrets data plane's routes: a declarative table.

Each route names its Azure AuditEvent operation, the RBAC data action it
needs, the access-policy permission used when RBAC is off, and whether
Key Vault's service limits count it as a write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..routing import match_route

SECRETS = "Microsoft.KeyVault/vaults/secrets"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # AuditEvent operationName
    handler: str  # method name on SecretsResponses
    data_action: str
    policy_permission: str
    secret_scoped: bool  # authorised at the secret's own scope
    is_write: bool


def _route(
    method: str,
    path: str,
    operation: str,
    handler: str,
    action: str,
    permission: str,
    *,
    secret_scoped: bool = True,
    is_write: bool = False,
) -> Route:
    regex = (
        "^"
        + path.replace("{name}", "(?P<name>[^/]*)").replace("{version}", "(?P<version>[^/]*)")
        + "$"
    )
    return Route(
        method,
        re.compile(regex),
        operation,
        handler,
        f"{SECRETS}/{action}",
        permission,
        secret_scoped,
        is_write,
    )


ROUTES: tuple[Route, ...] = (
    _route(
        "GET",
        "/secrets",
        "SecretList",
        "list_secrets",
        "readMetadata/action",
        "list",
        secret_scoped=False,
    ),
    _route(
        "POST",
        "/secrets/restore",
        "SecretRestore",
        "restore_secret",
        "restore/action",
        "restore",
        secret_scoped=False,
        is_write=True,
    ),
    _route(
        "GET",
        "/secrets/{name}/versions",
        "SecretListVersions",
        "list_versions",
        "readMetadata/action",
        "list",
    ),
    _route(
        "POST", "/secrets/{name}/backup", "SecretBackup", "backup_secret", "backup/action", "backup"
    ),
    _route("GET", "/secrets/{name}", "SecretGet", "get_secret", "getSecret/action", "get"),
    _route(
        "GET", "/secrets/{name}/{version}", "SecretGet", "get_secret", "getSecret/action", "get"
    ),
    _route(
        "PUT",
        "/secrets/{name}",
        "SecretSet",
        "set_secret",
        "setSecret/action",
        "set",
        is_write=True,
    ),
    _route(
        "PATCH",
        "/secrets/{name}",
        "SecretUpdate",
        "update_secret",
        "update/action",
        "set",
        is_write=True,
    ),
    _route(
        "PATCH",
        "/secrets/{name}/{version}",
        "SecretUpdate",
        "update_secret",
        "update/action",
        "set",
        is_write=True,
    ),
    _route(
        "DELETE",
        "/secrets/{name}",
        "SecretDelete",
        "delete_secret",
        "delete",
        "delete",
        is_write=True,
    ),
    _route(
        "GET",
        "/deletedsecrets",
        "SecretListDeleted",
        "list_deleted",
        "readMetadata/action",
        "list",
        secret_scoped=False,
    ),
    _route(
        "GET",
        "/deletedsecrets/{name}",
        "SecretGetDeleted",
        "get_deleted",
        "readMetadata/action",
        "list",
    ),
    _route(
        "DELETE",
        "/deletedsecrets/{name}",
        "SecretPurge",
        "purge_deleted",
        "purge/action",
        "purge",
        is_write=True,
    ),
    _route(
        "POST",
        "/deletedsecrets/{name}/recover",
        "SecretRecover",
        "recover_deleted",
        "recover/action",
        "recover",
        is_write=True,
    ),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists at all."""
    return match_route(ROUTES, method, path)
