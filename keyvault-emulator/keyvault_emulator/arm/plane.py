"""Resource Manager's front door on the main port: the request pipeline.

In Azure's order: injected faults, bearer token (401), route (unknown
namespaces, types and methods), api-version, request limits per principal
(429 with ``Retry-After``), RBAC for the caller's action (403
``AuthorizationFailed``), then the operation. Cloud metadata
(``/metadata/endpoints``) is served without a token, as Azure serves it.
Every request ends in one audit record (principal, method, resource id,
status). Errors are raised as typed :class:`~emulator.errors.AzureError` and
formatted here, once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..authorization.models import assignment_subscription
from ..authorization.responses import AuthorizationResponses, unauthorized_action
from ..config import ArmLimits
from ..errors import AzureError, BadRequest, DropConnection, NotFound, Throttled
from ..http import Request, Response, internal_error
from ..keyvault.models import Vault
from ..state import World
from ..throttling import SlidingWindow, retry_after_seconds
from ..tokens import ARM_AUDIENCES, Claims, TokenRejected, bearer_token
from .models import Caller, ResourceManager
from .responses import ArmResponses
from .routes import API_VERSIONS, SERVED_NAMESPACES, Route, match, provider_of, scope_for

ROLE_ASSIGNMENTS_WRITE = "Microsoft.Authorization/roleAssignments/write"
ROLE_ASSIGNMENTS_DELETE = "Microsoft.Authorization/roleAssignments/delete"
log = logging.getLogger(__name__)
_VAULT_IN_SCOPE = re.compile(r"/providers/Microsoft\.KeyVault/vaults/([^/]+)", re.IGNORECASE)


def _vault_in(scope: str) -> str:
    """The vault a role-assignment scope lies in (for the audit log), if any."""
    found = _VAULT_IN_SCOPE.search(scope)
    return found.group(1) if found else ""


@dataclass
class _Windows:
    writes: SlidingWindow
    reads: SlidingWindow


class ArmThrottle:
    """Resource Manager's request limits, per principal, reads and writes apart."""

    def __init__(self, limits: ArmLimits) -> None:
        self.limits = limits
        self._windows: dict[str, _Windows] = {}

    def configure(self, limits: ArmLimits) -> None:
        self.limits = limits
        self._windows.clear()

    def check(self, principal: str, subscription: str, is_write: bool) -> None:
        limits = self.limits
        if not limits.enabled:
            return
        windows = self._windows.get(principal)
        if windows is None:
            windows = _Windows(
                SlidingWindow(limits.writes, limits.window_s),
                SlidingWindow(limits.reads, limits.window_s),
            )
            self._windows[principal] = windows
        window = windows.writes if is_write else windows.reads
        wait_s = window.try_acquire()
        if wait_s:
            kind = "write" if is_write else "read"
            limit = limits.writes if is_write else limits.reads
            raise Throttled(
                f"Number of '{kind}' requests for subscription '{subscription}' actor "
                f"'{principal}' exceeded the limit of '{limit}' for time interval "
                f"'{limits.window_s:g}' seconds. Please try again after "
                f"'{retry_after_seconds(wait_s)}' seconds.",
                retry_after_s=retry_after_seconds(wait_s),
                code="SubscriptionRequestsThrottled",
            )


class ArmPlane:
    def __init__(
        self,
        world: World,
        ensure_listener: Callable[[Vault], int],
        close_listener: Callable[[Vault], None] | None = None,
    ) -> None:
        self.world = world
        self.manager = ResourceManager(world, on_live=ensure_listener, on_gone=close_listener)
        self.throttle = ArmThrottle(world.config.arm_throttling)
        self._arm = ArmResponses(world, self.manager, self._can_write_role_assignments)
        self._authorization = AuthorizationResponses(world, self.manager)

    # -- the request pipeline ---------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route, params, path_known = match(request.method, request.path)
        operation = route.operation if route else "Unknown"
        claims: Claims | None = None
        delay = 0.0
        try:
            if self.world.arm_faults is not None:
                delay = self.world.arm_faults.decide(operation)
            if route is not None and route.anonymous:  # cloud metadata: no token, no limits
                self._check_api_version(request, route)
                caller = Caller("", "")
            else:
                claims = self._authenticate(request)
                if route is None:
                    raise self._unrouted(request, path_known)
                self._check_api_version(request, route)
                caller = Caller(claims.object_id, claims.client_id)
                subscription = self._subscription(params)
                self.throttle.check(caller.object_id, subscription, route.is_write)
                self._authorize(route, request, params, caller)
            handler: Callable[[Request, dict[str, str], Caller], Response] = getattr(
                self._arm if hasattr(self._arm, route.handler) else self._authorization,
                route.handler,
            )
            response = handler(request, params, caller)
        except AzureError as error:
            response = Response.json(error.status, error.body(), dict(error.headers))
        except DropConnection:
            self._audit(request, operation, 0, claims, params)
            raise
        except Exception:  # a bug: answer as Azure would, and keep it in the audit log
            log.exception("unhandled error in %s (%s %s)", operation, request.method, request.path)
            response = internal_error()
        if request.method == "HEAD":
            response.body = b""
        response.delay_s = delay
        self._audit(request, operation, response.status, claims, params)
        return response

    def _audit(
        self,
        request: Request,
        operation: str,
        status: int,
        claims: Claims | None,
        params: dict[str, str],
    ) -> None:
        principal = claims.object_id if claims else ""
        self.world.audit.record(
            plane="arm",
            operation=operation,
            status=status,
            principal=principal,
            identity=self.world.principal_name(principal) if principal else "",
            vault=params.get("vault") or _vault_in(params.get("scope", "")),
            method=request.method,
            resource=request.path,
        )

    def _authenticate(self, request: Request) -> Claims:
        header = request.headers.get("authorization")
        challenge = {
            "WWW-Authenticate": (
                'Bearer authorization_uri="https://login.microsoftonline.com/'
                f'{self.world.config.tenant_id}", error="invalid_token", '
                'error_description="The authentication failed because of missing '
                "'Authorization' header.\""
            )
        }
        token = bearer_token(header)
        if token is None:
            raise AzureError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers=challenge,
            )
        try:
            claims = self.world.tokens.verify(token, ARM_AUDIENCES)
        except TokenRejected as rejected:
            if rejected.reason == "audience":
                raise AzureError(
                    401,
                    "InvalidAuthenticationTokenAudience",
                    "The access token has been obtained for wrong audience or resource "
                    f"'{rejected.audience}'. It should exactly match with one of the allowed "
                    "audiences 'https://management.core.windows.net/',"
                    "'https://management.core.windows.net','https://management.azure.com/',"
                    "'https://management.azure.com'.",
                ) from None
            if rejected.reason == "expired":
                raise AzureError(
                    401,
                    "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.",
                ) from None
            raise AzureError(
                401, "InvalidAuthenticationToken", "The access token is invalid."
            ) from None
        if claims.tenant_id.lower() != self.world.config.tenant_id.lower():
            raise AzureError(
                401,
                "InvalidAuthenticationTokenTenant",
                f"The access token is from the wrong issuer '{claims.issuer}'. It must match the "
                f"tenant 'https://sts.windows.net/{self.world.config.tenant_id}/' associated "
                "with this subscription.",
            )
        return claims

    @staticmethod
    def _unrouted(request: Request, path_known: bool) -> AzureError:
        if path_known:
            return AzureError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{request.method}'.",
            )
        provider = provider_of(request.path)
        if provider is None:
            return NotFound(
                f"The requested path '{request.path}' is not served by the emulator's Resource "
                "Manager.",
                code="NotFound",
            )
        namespace, resource_type = provider
        if namespace.lower() not in SERVED_NAMESPACES:
            return BadRequest(
                f"The resource namespace '{namespace}' is invalid. (The emulator serves "
                f"{', '.join(sorted(SERVED_NAMESPACES.values()))}.)",
                code="InvalidResourceNamespace",
            )
        version = request.query.get("api-version", "")
        return BadRequest(
            f"The resource type '{resource_type}' could not be found in the namespace "
            f"'{SERVED_NAMESPACES[namespace.lower()]}' for api version '{version}'.",
            code="InvalidResourceType",
        )

    @staticmethod
    def _check_api_version(request: Request, route: Route) -> None:
        version = request.query.get("api-version")
        if not version:
            raise BadRequest(
                "The api-version query parameter (?api-version=) is required for all requests.",
                code="MissingApiVersionParameter",
            )
        supported = API_VERSIONS[route.family]
        if version in supported:
            return
        listing = ", ".join(supported)
        if route.family in SERVED_NAMESPACES.values():
            raise BadRequest(
                f"No registered resource provider found for location 'global' and API version "
                f"'{version}' for type '{route.resource_type}'. The supported api-versions are "
                f"'{listing}'.",
                code="NoRegisteredProviderFound",
            )
        raise BadRequest(
            f"The api-version '{version}' is invalid. The supported versions are '{listing}'.",
            code="InvalidApiVersionParameter",
        )

    def _subscription(self, params: dict[str, str]) -> str:
        """The request's subscription, checked before authorization (404 if unknown)."""
        subscription = params.get("subscription") or assignment_subscription(
            params.get("scope", "")
        )
        if not subscription:
            return ""
        return self.manager.check_subscription(subscription)

    def _authorize(
        self, route: Route, request: Request, params: dict[str, str], caller: Caller
    ) -> None:
        if not route.action:
            return
        scope = scope_for(route, params)
        # Role assignment writes and deletes offer a condition the assignment at
        # hand (delegation: "may only assign Key Vault Secrets User").
        attributes = (
            self._authorization.condition_attributes(request, params)
            if route.action in (ROLE_ASSIGNMENTS_WRITE, ROLE_ASSIGNMENTS_DELETE)
            else {}
        )
        if self.world.role_assignments.allows_action(
            caller.object_id, route.action, scope, attributes=attributes
        ):
            return
        raise unauthorized_action(caller, route.action, scope)

    def _can_write_role_assignments(self, caller: Caller, scope: str) -> bool:
        return self.world.role_assignments.allows_action(
            caller.object_id, ROLE_ASSIGNMENTS_WRITE, scope, unconditional=True
        )

    # -- administration (tests, the admin API) -------------------------------------------------
    def set_limits(self, limits: ArmLimits) -> None:
        self.throttle.configure(limits)
