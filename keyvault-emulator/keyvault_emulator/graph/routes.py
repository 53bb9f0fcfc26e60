"""Microsoft Graph's routes the emulator serves: a declarative table.

Graph paths begin with the API version (``/v1.0`` or ``/beta``; the shapes
served are the same). Names are Graph's operation names, for the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..routing import match_route

VERSIONS = ("v1.0", "beta")
PREFIXES = tuple(f"/{v}/" for v in VERSIONS)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # audit operation name
    handler: str  # method name on GraphResponses


def _route(method: str, path: str, operation: str, handler: str) -> Route:
    regex = "^/(?:v1\\.0|beta)" + path.replace("{id}", "(?P<id>[^/]+)") + "$"
    return Route(method, re.compile(regex, re.IGNORECASE), operation, handler)


ROUTES: tuple[Route, ...] = (
    _route("POST", "/directoryObjects/getByIds", "DirectoryObjectsGetByIds", "get_by_ids"),
    _route("GET", "/directoryObjects/{id}", "DirectoryObjectGet", "get_directory_object"),
    _route("GET", "/servicePrincipals", "ServicePrincipalList", "list_service_principals"),
    _route("GET", "/servicePrincipals/{id}", "ServicePrincipalGet", "get_service_principal"),
    _route("GET", "/users", "UserList", "list_users"),
    _route("GET", "/users/{id}", "UserGet", "get_user"),
    _route("GET", "/me", "MeGet", "get_me"),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists at all."""
    return match_route(ROUTES, method, path.rstrip("/") or "/")
