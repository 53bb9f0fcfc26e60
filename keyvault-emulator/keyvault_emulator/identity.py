"""The managed-identity token endpoint, speaking App Service's protocol.

``azure-identity`` uses it when ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``
are set: ``GET {endpoint}?api-version=2019-08-01&resource=...`` with the
header ``X-IDENTITY-HEADER``. Each identity has its own header secret, so
the header says which managed identity the calling process runs as (App
Service's header is likewise a per-app secret).
"""

from __future__ import annotations

import hashlib
import hmac

from .config import Identity
from .http import Request, Response
from .state import World

TOKEN_PATH = "/msi/token"


def identity_header(world: World, identity: Identity) -> str:
    digest = hmac.new(world.key, f"identity-header:{identity.object_id}".encode(), hashlib.sha256)
    return f"{identity.name}.{digest.hexdigest()[:32]}"


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": "invalid_request", "error_description": message})


def handle_token_request(world: World, request: Request) -> Response:
    if request.method != "GET":
        return _error(405, "Only GET is supported.")
    if request.query.get("api-version") != "2019-08-01":
        return _error(400, "api-version must be 2019-08-01.")
    resource = request.query.get("resource", "")
    if not resource:
        return _error(400, "The 'resource' query parameter is required.")
    header = request.headers.get("x-identity-header", "")
    identity = next(
        (
            i
            for i in world.identities_by_oid.values()
            if hmac.compare_digest(identity_header(world, i), header)
        ),
        None,
    )
    if identity is None:
        return _error(401, "The X-IDENTITY-HEADER header is missing or does not name an identity.")
    for selector, attribute in (
        ("client_id", "client_id"),
        ("object_id", "object_id"),
        ("principal_id", "object_id"),
    ):
        wanted = request.query.get(selector)
        if wanted and wanted.lower() != getattr(identity, attribute).lower():
            return _error(400, f"No managed identity with {selector} {wanted} is assigned.")
    token, expires_on = world.tokens.mint(identity, resource)
    return Response.json(
        200,
        {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        },
    )
