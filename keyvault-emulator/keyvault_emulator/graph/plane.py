"""Microsoft Graph's front door on the main port: the request pipeline.

Token (401 in Graph's words), route (404/405), the operation; every request
ends in one audit record. Errors are Graph's shape: ``{"error": {"code",
"message", "innerError": {"date", "request-id", "client-request-id"}}}``.

Audiences: Graph's own (``https://graph.microsoft.com``, its app id) and the
emulator's main port as a registered CLI names it: ``az cloud register``
takes Graph's base URL from the cloud metadata's
``microsoftGraphResourceId`` and asks tokens for that same URL. Any
principal of the tenant may read the directory (in Azure an app needs
``Directory.Read.All``; the emulator does not model Graph permissions).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ..errors import AzureError
from ..http import Request, Response, internal_error
from ..state import World
from ..tokens import GRAPH_AUDIENCES, Claims, TokenRejected, bearer_token
from .models import Directory, GraphError
from .responses import GraphResponses
from .routes import match

log = logging.getLogger(__name__)


def own_audiences(request: Request) -> frozenset[str]:
    """Graph's audiences plus the emulator's origin as the request reached it."""
    origin = f"https://{request.headers.get('host', '127.0.0.1')}"
    return GRAPH_AUDIENCES | {origin, origin + "/"}


class GraphPlane:
    def __init__(self, world: World) -> None:
        self.world = world
        self.directory = Directory(lambda: list(world.identities_by_oid.values()))
        self._responses = GraphResponses(self.directory)

    def handle(self, request: Request) -> Response:
        route, params, path_known = match(request.method, request.path)
        operation = route.operation if route else "Unknown"
        claims: Claims | None = None
        try:
            claims = self._authenticate(request)
            if route is None:
                raise self._unrouted(request, path_known)
            handler: Callable[[Request, dict[str, str], str], Response] = getattr(
                self._responses, route.handler
            )
            response = handler(request, params, claims.object_id)
        except AzureError as error:
            response = self._error(request, error)
        except Exception:  # a bug: answer as a service would, and keep it in the audit log
            log.exception("unhandled error in %s (%s %s)", operation, request.method, request.path)
            response = internal_error()
        principal = claims.object_id if claims else ""
        self.world.audit.record(
            plane="graph",
            operation=operation,
            status=response.status,
            principal=principal,
            identity=self.world.principal_name(principal) if principal else "",
            vault="",
            method=request.method,
            resource=request.path,
        )
        return response

    @staticmethod
    def _error(request: Request, error: AzureError) -> Response:
        body = {
            "error": {
                "code": error.code,
                "message": error.message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": request.headers.get(
                        "client-request-id", str(uuid.uuid4())
                    ),
                },
            }
        }
        return Response.json(error.status, body, dict(error.headers))

    def _authenticate(self, request: Request) -> Claims:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise _unauthorized("Access token is empty.")
        try:
            claims = self.world.tokens.verify(token, own_audiences(request))
        except TokenRejected as rejected:
            if rejected.reason == "audience":
                raise _unauthorized("Access token validation failure. Invalid audience.") from None
            if rejected.reason == "expired":
                raise _unauthorized("Lifetime validation failed, the token is expired.") from None
            raise _unauthorized("Access token validation failure.") from None
        if claims.tenant_id.lower() != self.world.config.tenant_id.lower():
            raise _unauthorized("Access token validation failure. Invalid issuer.")
        return claims

    @staticmethod
    def _unrouted(request: Request, path_known: bool) -> GraphError:
        if path_known:
            return GraphError(
                405,
                "Request_BadRequest",
                f"Specified HTTP method is not allowed for the request uri {request.path}.",
            )
        segment = request.path.split("/")[2] if request.path.count("/") >= 2 else request.path
        return GraphError(
            400,
            "BadRequest",
            f"Resource not found for the segment '{segment}'.",
        )


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
    )
