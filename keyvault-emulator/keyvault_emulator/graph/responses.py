"""Microsoft Graph on the wire: directory objects, lists with ``@odata.nextLink``.

Handlers read parameters, ask :class:`~emulator.graph.models.Directory` and
format Graph's JSON: objects in a ``getByIds`` answer carry ``@odata.type``
(the CLI reads it to tell users from service principals); lists are
``{"@odata.context": ..., "value": [...]}`` pages of at most ``$top``
(default 100, Graph's), with ``@odata.nextLink`` while more remain.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ..http import InvalidJson, Request, Response, json_object
from .models import (
    SERVICE_PRINCIPAL,
    USER,
    Directory,
    DirectoryObject,
    bad_request,
    resource_not_found,
)

DEFAULT_PAGE = 100
MAX_PAGE = 999
Handler = Callable[[Request, dict[str, str], str], Response]


def object_body(found: DirectoryObject, *, typed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if typed:
        body["@odata.type"] = f"#microsoft.graph.{found.kind}"
    body["id"] = found.object_id
    body["displayName"] = found.display_name
    if found.kind == SERVICE_PRINCIPAL:
        body.update(
            {
                "appId": found.app_id,
                "servicePrincipalNames": list(found.service_principal_names),
                "servicePrincipalType": "ManagedIdentity",
                "accountEnabled": True,
            }
        )
    else:
        body.update(
            {
                "userPrincipalName": found.user_principal_name,
                "mail": None,
                "accountEnabled": True,
            }
        )
    return body


def _origin(request: Request) -> str:
    return f"https://{request.headers.get('host', '127.0.0.1')}"


def _version(request: Request) -> str:
    return request.path.split("/", 2)[1]


def _context(request: Request, what: str) -> str:
    return f"{_origin(request)}/{_version(request)}/$metadata#{what}"


def _page_size(request: Request) -> int:
    raw = request.query.get("$top")
    if raw in (None, ""):
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(
            f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_PAGE} inclusive."
        )
    return int(raw)


def _offset(request: Request) -> int:
    token = request.query.get("$skiptoken")
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except ValueError:
        offset = -1
    if offset < 0:
        raise bad_request("Invalid $skiptoken.")  # guessed wording
    return offset


def _listing(request: Request, items: list[DirectoryObject], what: str) -> Response:
    size = _page_size(request)
    offset = _offset(request)
    body: dict[str, Any] = {
        "@odata.context": _context(request, what),
        "value": [object_body(o) for o in items[offset : offset + size]],
    }
    if offset + size < len(items):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        body["@odata.nextLink"] = f"{_origin(request)}{request.path}?{urlencode(query)}"
    return Response.json(200, body)


class GraphResponses:
    """Handlers: each takes the request, its path parameters and the caller's object id."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def get_by_ids(self, request: Request, params: dict[str, str], caller: str) -> Response:
        try:
            body = json_object(request.body or b"")
        except InvalidJson:
            raise bad_request("Unable to read JSON request payload.") from None
        ids, types = body.get("ids"), body.get("types")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("The 'ids' property must be a list of object ids.")
        if len(ids) > 1000:
            raise bad_request("Too many ids: at most 1000 may be asked for at once.")
        if types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            raise bad_request("The 'types' property must be a list of type names.")
        found = self.directory.get_by_ids(ids, types)
        return Response.json(
            200,
            {
                "@odata.context": _context(request, "directoryObjects"),
                "value": [object_body(o, typed=True) for o in found],
            },
        )

    def get_directory_object(
        self, request: Request, params: dict[str, str], caller: str
    ) -> Response:
        found = self.directory.get(params["id"])
        body = {"@odata.context": _context(request, "directoryObjects/$entity")}
        return Response.json(200, body | object_body(found, typed=True))

    def list_service_principals(
        self, request: Request, params: dict[str, str], caller: str
    ) -> Response:
        found = self.directory.query(SERVICE_PRINCIPAL, request.query.get("$filter", ""))
        return _listing(request, found, "servicePrincipals")

    def get_service_principal(
        self, request: Request, params: dict[str, str], caller: str
    ) -> Response:
        found = self.directory.get(params["id"], SERVICE_PRINCIPAL)
        body = {"@odata.context": _context(request, "servicePrincipals/$entity")}
        return Response.json(200, body | object_body(found))

    def list_users(self, request: Request, params: dict[str, str], caller: str) -> Response:
        found = self.directory.query(USER, request.query.get("$filter", ""))
        return _listing(request, found, "users")

    def get_user(self, request: Request, params: dict[str, str], caller: str) -> Response:
        wanted = params["id"]
        if "@" in wanted:  # users/{userPrincipalName}
            quoted = wanted.replace("'", "''")
            matches = self.directory.query(USER, f"userPrincipalName eq '{quoted}'")
            if not matches:
                raise resource_not_found(wanted)
            found = matches[0]
        else:
            found = self.directory.get(wanted, USER)
        body = {"@odata.context": _context(request, "users/$entity")}
        return Response.json(200, body | object_body(found))

    def get_me(self, request: Request, params: dict[str, str], caller: str) -> Response:
        found = self.directory.get(caller)
        if found.kind != USER:
            raise bad_request(
                "/me request is only valid with delegated authentication flow.", code="BadRequest"
            )
        body = {"@odata.context": _context(request, "users/$entity")}
        return Response.json(200, body | object_body(found))
