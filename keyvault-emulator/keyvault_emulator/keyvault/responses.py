"""The secrets data plane on the wire: parse, authorise, call the model, format.

Request flow, in Azure's order: injected faults, api-version, bearer token
(401 challenge), route, service limits (429), RBAC or access policy (403),
then the operation. Every request ends in one audit record.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import zlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import (
    AzureError,
    BadRequest,
    DropConnection,
    Forbidden,
    NotFound,
    Throttled,
    Unauthorized,
)
from ..events import EventDelivery
from ..http import InvalidJson, Request, Response, internal_error, json_object
from ..state import World
from ..throttling import retry_after_seconds
from ..tokens import VAULT_AUDIENCES, Claims, TokenRejected, bearer_token
from .firewall import check_network_access
from .models import Secret, SecretVersion, Vault, check_secret_name
from .routes import Route, match

API_VERSIONS = frozenset(
    {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}
)
MAX_PAGE = 25
LOGIN_HOST = "https://login.microsoftonline.com"
# Key Vault's wording; the AKV codes are the service's, the texts close to it.
_AKV_TOKEN_MESSAGES = {
    "malformed": "AKV10032: Invalid token: it could not be decoded.",
    "signature": "AKV10032: Invalid token signature.",
    "claims": "AKV10032: Invalid token: required claims are missing.",
    "audience": "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {audience}.",
    "expired": "AKV10022: Token is expired.",
}
BACKUP_MAGIC = b"KVEMU1"
log = logging.getLogger(__name__)


def vault_url(vault: Vault) -> str:
    return f"https://127.0.0.1:{vault.port}/"


def _attributes(vault: Vault, version: SecretVersion) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.updated,
        "recoveryLevel": vault.recovery_level,
        "recoverableDays": vault.retention_days,
    }
    if version.not_before is not None:
        attributes["nbf"] = version.not_before
    if version.expires is not None:
        attributes["exp"] = version.expires
    return attributes


def _item(
    vault: Vault, secret: Secret, version: SecretVersion, *, with_version: bool
) -> dict[str, Any]:
    base = f"{vault_url(vault)}secrets/{secret.name}"
    item: dict[str, Any] = {
        "id": f"{base}/{version.version}" if with_version else base,
        "attributes": _attributes(vault, version),
    }
    if version.tags:
        item["tags"] = dict(version.tags)
    if version.content_type is not None:
        item["contentType"] = version.content_type
    return item


def _bundle(vault: Vault, secret: Secret, version: SecretVersion) -> dict[str, Any]:
    bundle = _item(vault, secret, version, with_version=True)
    bundle["value"] = version.value
    return bundle


def _deleted_fields(vault: Vault, secret: Secret) -> dict[str, Any]:
    return {
        "recoveryId": f"{vault_url(vault)}deletedsecrets/{secret.name}",
        "deletedDate": secret.deleted_at,
        "scheduledPurgeDate": secret.scheduled_purge_at,
    }


# The dates a .NET DateTime holds (0001-01-01 to 9999-12-31 UTC), as Unix
# seconds. Key Vault runs on .NET; that it refuses dates outside these with a
# 400 is our guess (the spec says only "integer, format unixtime").
UNIX_TIME_MIN = -62_135_596_800
UNIX_TIME_MAX = 253_402_300_799


def _optional_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"Invalid value for '{field}': expected seconds since the epoch.")
    # json_object has refused NaN and the infinities, so the comparison is safe.
    if not UNIX_TIME_MIN <= value <= UNIX_TIME_MAX:
        raise BadRequest(
            f"Invalid value for '{field}': {value} is outside the range of dates "
            f"({UNIX_TIME_MIN} to {UNIX_TIME_MAX} seconds since the epoch)."
        )
    return int(value)


def _parse_attributes(body: dict[str, Any]) -> dict[str, Any]:
    """Map the wire's SecretAttributes to model field changes (only those sent)."""
    attributes = body.get("attributes")
    changes: dict[str, Any] = {}
    if attributes is None:
        return changes
    if not isinstance(attributes, dict):
        raise BadRequest("Invalid 'attributes': expected an object.")
    if "enabled" in attributes and attributes["enabled"] is not None:
        if not isinstance(attributes["enabled"], bool):
            raise BadRequest("Invalid value for 'enabled': expected a boolean.")
        changes["enabled"] = attributes["enabled"]
    if "nbf" in attributes:
        changes["not_before"] = _optional_int(attributes["nbf"], "nbf")
    if "exp" in attributes:
        changes["expires"] = _optional_int(attributes["exp"], "exp")
    return changes


def _parse_tags(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise BadRequest("Invalid 'tags': expected an object of string values.")
    return tags


def _json_body(request: Request) -> dict[str, Any]:
    try:
        return json_object(request.body)
    except InvalidJson as invalid:
        if invalid.not_object:
            raise BadRequest("The request body must be a JSON object.") from None
        raise BadRequest("The request body is not valid JSON.") from None


def _policy_names(policy: dict[str, Any], claims: Claims) -> bool:
    """Is the caller the identity an access policy names?

    The object and its tenant must match; a compound identity (``applicationId``
    set) grants only when the caller signed in through that application.
    """
    application = policy.get("applicationId")
    return (
        str(policy.get("objectId", "")).lower() == claims.object_id.lower()
        and str(policy.get("tenantId", "")).lower() == claims.tenant_id.lower()
        and (not application or str(application).lower() == claims.client_id.lower())
    )


class SecretsPlane:
    """Serves every vault's data plane; the listener's port selects the vault."""

    def __init__(self, world: World, events: EventDelivery | None = None) -> None:
        self.world = world
        self.events = events  # Event Grid: SecretNewVersionCreated on every new version
        self._cipher = AESGCM(world.key)

    # -- the request pipeline ---------------------------------------------------
    def handle(self, request: Request) -> Response:
        world = self.world
        vault = world.vault_by_port(request.port)
        if vault is None or vault.deleted_at is not None:
            raise DropConnection()  # like a vault host that no longer resolves
        runtime = world.vault_runtime[vault.name.lower()]
        route, params, path_known = match(request.method, request.path)
        operation = route.operation if route else "Unknown"
        secret_name = params.get("name", "")
        claims: Claims | None = None
        delay = 0.0
        try:
            if runtime.faults is not None:
                delay = runtime.faults.decide(operation)
            self._check_api_version(request)
            claims = self._authenticate(request, vault)
            check_network_access(vault, claims)
            if route is None:
                if path_known:
                    raise AzureError(
                        405,
                        "MethodNotAllowed",
                        f"The requested resource does not support http method '{request.method}'.",
                    )
                raise NotFound("The requested resource was not found.", code="NotFound")
            self._limit(route, runtime)
            self._authorize(route, vault, claims, secret_name)
            handler: Callable[[Request, Vault, dict[str, str]], Response] = getattr(
                self, route.handler
            )
            response = handler(request, vault, params)
        except AzureError as error:
            headers = dict(error.headers)
            if error.status == 401:
                headers.setdefault("WWW-Authenticate", self._challenge(vault))
            response = Response.json(error.status, error.body(), headers)
        except DropConnection:
            self._audit(vault, operation, 0, claims, secret_name, request)
            raise
        except Exception:  # a bug: answer as Azure would, and keep it in the audit log
            log.exception("unhandled error in %s (%s %s)", operation, request.method, request.path)
            response = internal_error()
        response.delay_s = delay
        self._audit(vault, operation, response.status, claims, secret_name, request)
        return response

    def _audit(
        self,
        vault: Vault,
        operation: str,
        status: int,
        claims: Claims | None,
        secret: str,
        request: Request,
    ) -> None:
        principal = claims.object_id if claims else ""
        self.world.audit.record(
            plane="data",
            operation=operation,
            status=status,
            principal=principal,
            identity=self.world.principal_name(principal) if principal else "",
            vault=vault.name,
            secret=secret,
            method=request.method,
            resource=request.path,
        )

    def _challenge(self, vault: Vault) -> str:
        return (
            f'Bearer authorization="{LOGIN_HOST}/{vault.tenant_id}", '
            f'resource="https://vault.azure.net"'
        )

    def _check_api_version(self, request: Request) -> None:
        version = request.query.get("api-version")
        if not version:
            raise BadRequest(
                "The api-version query parameter is required.", code="MissingApiVersionParameter"
            )
        if version not in API_VERSIONS:
            raise BadRequest(
                f"The specified version ({version}) is not recognized. Consider using the "
                "latest supported version (2026-04-01).",
                code="BadParameter",
            )

    def _authenticate(self, request: Request, vault: Vault) -> Claims:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
        try:
            claims = self.world.tokens.verify(token, VAULT_AUDIENCES)
        except TokenRejected as rejected:
            raise Unauthorized(
                _AKV_TOKEN_MESSAGES[rejected.reason].format(audience=rejected.audience)
            ) from None
        if claims.tenant_id.lower() != vault.tenant_id.lower():
            raise Unauthorized(
                f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"
                f"{vault.tenant_id}/, found {claims.issuer}."
            )
        return claims

    def _limit(self, route: Route, runtime: Any) -> None:
        if not runtime.throttling_enabled:
            return
        window = runtime.writes if route.is_write else runtime.others
        wait_s = window.try_acquire()
        if wait_s:
            raise Throttled(
                "Request was not processed because too many requests were received. Reason: "
                "A single vault's service limits were exceeded.",
                retry_after_s=retry_after_seconds(wait_s),
            )

    def _authorize(self, route: Route, vault: Vault, claims: Claims, secret_name: str) -> None:
        scope = vault.resource_id
        if route.secret_scoped and secret_name:
            scope = f"{scope}/secrets/{secret_name}"
        if vault.rbac_enabled:
            if self.world.role_assignments.allows_data_action(
                claims.object_id, route.data_action, scope
            ):
                return
            raise Forbidden(
                "Caller is not authorized to perform action on resource.\r\n"
                "If role assignments, deny assignments or role definitions were changed "
                "recently, please observe propagation time.\r\n"
                f"Caller: appid={claims.client_id};oid={claims.object_id};iss={claims.issuer}\r\n"
                f"Action: '{route.data_action}'\r\n"
                f"Resource: '{scope.lower()}'\r\n"
                "Assignment: (not found)\r\n"
                "DenyAssignmentId: null\r\n"
                "DecisionReason: null \r\n"
                f"Vault: {vault.name};location={vault.location}\r\n",
                inner="ForbiddenByRbac",
            )
        for policy in vault.access_policies:
            if not _policy_names(policy, claims):
                continue
            granted = {p.lower() for p in (policy.get("permissions") or {}).get("secrets") or []}
            if route.policy_permission in granted or "all" in granted:
                return
        raise Forbidden(
            f"The user, group or application 'appid={claims.client_id};oid={claims.object_id};"
            f"iss={claims.issuer}' does not have secrets {route.policy_permission} permission "
            f"on key vault '{vault.name};location={vault.location}'. For help resolving this "
            "issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            inner="AccessDenied",
        )

    # -- operations ---------------------------------------------------------------
    def _secrets(self, vault: Vault) -> Any:
        return self.world.vault_secrets[vault.name.lower()]

    def get_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret, version = self._secrets(vault).get(params["name"], params.get("version", ""))
        return Response.json(200, _bundle(vault, secret, version))

    def set_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        body = _json_body(request)
        if "value" not in body or body["value"] is None:
            raise BadRequest("The request body must contain a 'value'.")
        changes = _parse_attributes(body)
        content_type = body.get("contentType")
        if content_type is not None and not isinstance(content_type, str):
            raise BadRequest("Invalid 'contentType': expected a string.")
        secret, version = self._secrets(vault).set(
            params["name"],
            body["value"],
            content_type=content_type,
            tags=_parse_tags(body),
            enabled=changes.get("enabled", True),
            not_before=changes.get("not_before"),
            expires=changes.get("expires"),
        )
        if self.events is not None:
            self.events.secret_version_created(vault, vault_url(vault), secret.name, version)
        return Response.json(200, _bundle(vault, secret, version))

    def update_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        body = _json_body(request)
        changes = _parse_attributes(body)
        # SecretUpdateParameters types contentType as a string, not nullable: a
        # null is taken as "not sent" (guessed; the SDK never sends one).
        content_type = body.get("contentType")
        if content_type is not None:
            if not isinstance(content_type, str):
                raise BadRequest("Invalid 'contentType': expected a string.")
            changes["content_type"] = content_type
        if "tags" in body:
            changes["tags"] = _parse_tags(body)
        secret, version = self._secrets(vault).update(
            params["name"], params.get("version", ""), changes
        )
        return Response.json(200, _item(vault, secret, version, with_version=True))

    def delete_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret = self._secrets(vault).delete(params["name"])
        payload = _item(vault, secret, secret.latest, with_version=True)
        payload.update(_deleted_fields(vault, secret))
        return Response.json(200, payload)

    def get_deleted(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret = self._secrets(vault).read_deleted(params["name"])
        payload = _item(vault, secret, secret.latest, with_version=True)
        payload.update(_deleted_fields(vault, secret))
        return Response.json(200, payload)

    def recover_deleted(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret = self._secrets(vault).recover(params["name"])
        return Response.json(200, _item(vault, secret, secret.latest, with_version=True))

    def purge_deleted(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        self._secrets(vault).purge(params["name"])
        return Response(204)

    def list_secrets(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        return self._page(
            request,
            vault,
            "/secrets",
            self._secrets(vault).live_page,
            lambda s: s.name.lower(),
            lambda s: _item(vault, s, s.latest, with_version=False),
        )

    def list_versions(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret, versions = self._secrets(vault).versions(params["name"])

        def versions_after(after: str, size: int) -> list[SecretVersion]:
            return [v for v in versions if v.version > after][:size]

        return self._page(
            request,
            vault,
            f"/secrets/{secret.name}/versions",
            versions_after,
            lambda v: v.version,
            lambda v: _item(vault, secret, v, with_version=True),
        )

    def list_deleted(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        def render(secret: Secret) -> dict[str, Any]:
            item = _item(vault, secret, secret.latest, with_version=False)
            item.update(_deleted_fields(vault, secret))
            return item

        return self._page(
            request,
            vault,
            "/deletedsecrets",
            self._secrets(vault).deleted_page,
            lambda s: s.name.lower(),
            render,
        )

    def _page(
        self,
        request: Request,
        vault: Vault,
        path: str,
        items_after: Callable[[str, int], list[Any]],
        key: Callable[[Any], str],
        render: Callable[[Any], dict[str, Any]],
    ) -> Response:
        raw_size = request.query.get("maxresults")
        size = MAX_PAGE
        if raw_size not in (None, ""):
            try:
                size = int(raw_size)
            except ValueError:
                size = 0
            if not 1 <= size <= MAX_PAGE:
                raise BadRequest(
                    f"Invalid maxresults value: {raw_size}. It must be between 1 and {MAX_PAGE}."
                )
        after = ""
        token = request.query.get("$skiptoken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            except ValueError:
                raise BadRequest("Invalid $skiptoken.") from None
        # One more than a page tells whether another page follows.
        page = items_after(after, size + 1)
        next_link = None
        if len(page) > size:
            page = page[:size]
            skip = base64.urlsafe_b64encode(key(page[-1]).encode()).decode().rstrip("=")
            version = request.query.get("api-version", "")
            next_link = (
                f"{vault_url(vault)}{path.lstrip('/')}?api-version={version}"
                f"&$skiptoken={skip}&maxresults={size}"
            )
        return Response.json(200, {"value": [render(i) for i in page], "nextLink": next_link})

    # -- backup and restore: an opaque, encrypted blob bound to the subscription --
    def backup_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        secret = self._secrets(vault)._live_secret(params["name"])
        record = {"subscription": vault.subscription_id, "secret": secret.to_record()}
        nonce = os.urandom(12)
        sealed = self._cipher.encrypt(
            nonce, zlib.compress(json.dumps(record).encode()), BACKUP_MAGIC
        )
        blob = BACKUP_MAGIC + nonce + sealed
        value = base64.urlsafe_b64encode(blob).decode().rstrip("=")
        return Response.json(200, {"value": value})

    def restore_secret(self, request: Request, vault: Vault, params: dict[str, str]) -> Response:
        body = _json_body(request)
        value = body.get("value")
        if not isinstance(value, str):
            raise BadRequest("The request body must contain the backup blob as 'value'.")
        try:
            blob = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            if not blob.startswith(BACKUP_MAGIC):
                raise ValueError("magic")
            nonce, sealed = blob[6:18], blob[18:]
            record = json.loads(zlib.decompress(self._cipher.decrypt(nonce, sealed, BACKUP_MAGIC)))
        except Exception:
            raise BadRequest(
                "The backup blob is invalid or corrupt.", code="BadParameter"
            ) from None
        if record["subscription"].lower() != vault.subscription_id.lower():
            raise Forbidden(
                "A backup can only be restored into a vault in the same "
                "subscription as the vault it was taken from."
            )
        secret = Secret.from_record(record["secret"])
        check_secret_name(secret.name)
        restored = self._secrets(vault).restore(secret)
        # Azure answers with the bundle; the emulator leaves the value out (the
        # SDK returns only properties), so a restore response never carries it.
        return Response.json(200, _item(vault, restored, restored.latest, with_version=True))
