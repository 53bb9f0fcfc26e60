"""The one Azure failure classifier, and the one table of hints.

Every layer that meets an Azure SDK error asks :func:`classify` what it is
(a :class:`Failure`: its :class:`Kind`, HTTP status, error code, inner code
and ``Retry-After``), decides on the kind (retry, stop, report), and words
its remedy with :func:`hint`, which reads :data:`HINTS`, keyed by the
:class:`Plane` the request went to and the most specific code known.

How azure-core stores what a service said: a service's error body
``{"error": {"code", "message", "innererror": {"code"}}}`` is parsed into
``exc.error`` (an ``ODataV4Format``), whose ``innererror`` is a **dict**
(``getattr(error.innererror, "code")`` is always ``None``). The inner code
is where Key Vault says *why* (``ForbiddenByRbac``, ``ForbiddenByFirewall``,
``ObjectIsDeletedButRecoverable``). ``Retry-After`` is read with azure-core's
own ``RetryPolicy.get_retry_after`` (seconds, an HTTP date, or the
``-ms`` headers). A credential's failure is a ``ClientAuthenticationError``
with no response: it is an ``HttpResponseError`` too, so it is asked about
first (its status and code are ``None``).

Messages and hints never hold a secret value: a service's error text names
resources and principals, not values, and only its first line is kept.
"""

from __future__ import annotations

import enum
import socket
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineContext, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from keyvault_platform.core.errors import ActionableError

__all__ = [
    "HINTS",
    "SIGN_IN_HINT",
    "Failure",
    "Kind",
    "Plane",
    "TargetRetryPolicy",
    "as_error",
    "classify",
    "first_line",
    "hint",
    "inner_code",
]


class Plane(enum.Enum):
    """Where a request went: the part of Azure that answered (or did not)."""

    ARM = "arm"  # Resource Manager: resource groups, vaults, role assignments
    VAULT = "vault"  # a vault's data plane: secrets
    SIGN_IN = "sign-in"  # a token endpoint, before any request reached Azure
    EMULATOR = "emulator"  # the local emulator's own discovery


class Kind(enum.Enum):
    """What a failure is, as far as what to do next goes. A closed set."""

    NOT_SIGNED_IN = "not signed in"  # no token could be had
    WRONG_TENANT = "wrong tenant"  # a token of another Entra tenant
    UNAUTHENTICATED = "unauthenticated"  # another 401
    DENIED = "denied"  # 403 by RBAC (or an access policy)
    NETWORK_BLOCKED = "network blocked"  # 403 by the vault's network rules
    NOT_FOUND = "not found"
    CONFLICT = "conflict"
    THROTTLED = "throttled"  # 429
    SERVICE_ERROR = "service error"  # 408, 5xx: worth another try
    REFUSED = "refused"  # another 4xx: the request itself is wrong
    HOST_NOT_FOUND = "host not found"  # DNS: the name does not resolve
    UNREACHABLE = "unreachable"  # no connection, or it dropped
    OTHER = "other"  # not an Azure failure

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed when sent again."""
        return self in (Kind.THROTTLED, Kind.SERVICE_ERROR, Kind.UNREACHABLE)

    @property
    def stops_every_change(self) -> bool:
        """Whether every other request of the same identity to the same place would fail too.

        An apply stops at the first such failure instead of repeating it once
        per change (a sync identity without write rights, a vault this
        machine cannot reach).
        """
        return self in (
            Kind.NOT_SIGNED_IN,
            Kind.WRONG_TENANT,
            Kind.DENIED,
            Kind.NETWORK_BLOCKED,
            Kind.HOST_NOT_FOUND,
        )


_RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})


@dataclass(frozen=True)
class Failure:
    """What :func:`classify` found out about an exception. Holds no value."""

    kind: Kind
    status: int | None = None
    code: str = ""
    inner_code: str = ""
    retry_after_s: float | None = None
    message: str = ""  # the first line of what the service (or the client) said

    @property
    def codes(self) -> str:
        """``code/inner`` as far as known (``Forbidden/ForbiddenByRbac``)."""
        return "/".join(c for c in (self.code, self.inner_code) if c)

    def describe(self) -> str:
        """One line: ``HTTP 403 Forbidden/ForbiddenByRbac: <first line>``, or the kind in words."""
        if self.status is not None:
            head = f"HTTP {self.status}" + (f" {self.codes}" if self.codes else "")
            return head + (f": {self.message}" if self.message else "")
        return self.kind.value + (f": {self.message}" if self.message else "")


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (SDK errors add lines of detail), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def inner_code(exc: BaseException) -> str:
    """The ``innererror.code`` of an SDK error, or ``""`` when it has none."""
    error = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None) or {}
    if isinstance(inner, Mapping):
        return str(inner.get("code") or "")
    return str(getattr(inner, "code", "") or "")  # an object, should a version model it so


def classify(exc: BaseException) -> Failure:
    """What ``exc`` is: a credential's, Resource Manager's or a vault's failure, or none."""
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        return Failure(Kind.NOT_SIGNED_IN, message=first_line(exc))
    if isinstance(exc, HttpResponseError):
        return _classify_response(exc)
    if isinstance(exc, ServiceRequestError):
        if _name_not_resolved(exc):
            return Failure(Kind.HOST_NOT_FOUND, message=first_line(exc))
        return Failure(Kind.UNREACHABLE, message=first_line(exc))
    if isinstance(exc, ServiceResponseError):
        return Failure(Kind.UNREACHABLE, message=first_line(exc))
    return Failure(Kind.OTHER, message=type(exc).__name__)


def _classify_response(exc: Any) -> Failure:
    status = exc.status_code
    error = getattr(exc, "error", None)
    code = str(getattr(error, "code", None) or "")
    inner = inner_code(exc)
    text = str(getattr(error, "message", None) or exc.reason or "").strip()
    message = text.splitlines()[0].strip() if text else ""
    retry_after = _retry_after(exc)
    if status == 429 and not code:
        code = "TooManyRequests"
    if status == 401:
        # Resource Manager names the case; Key Vault says it in its message.
        wrong_tenant = code == "InvalidAuthenticationTokenTenant" or "Invalid issuer" in message
        kind = Kind.WRONG_TENANT if wrong_tenant else Kind.UNAUTHENTICATED
    elif status == 403:
        blocked = inner in ("ForbiddenByFirewall", "ForbiddenByConnection")
        kind = Kind.NETWORK_BLOCKED if blocked else Kind.DENIED
    elif status == 404:
        kind = Kind.NOT_FOUND
    elif status == 409:
        kind = Kind.CONFLICT
    elif status == 429:
        kind = Kind.THROTTLED
    elif status in _RETRY_STATUSES or (status is not None and status >= 500):
        kind = Kind.SERVICE_ERROR
    elif status is not None and 400 <= status < 500:
        kind = Kind.REFUSED
    else:
        kind = Kind.OTHER
    return Failure(kind, status, code, inner, retry_after, message)


def _retry_after(exc: Any) -> float | None:
    """``Retry-After`` of the response, as azure-core reads it (seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    if response is None or getattr(response, "headers", None) is None:
        return None
    try:
        wrapped = PipelineResponse(
            getattr(response, "request", None), response, PipelineContext(None)
        )
        return RetryPolicy().get_retry_after(wrapped)
    except (ValueError, TypeError, OverflowError):  # a header azure-core cannot read
        return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: causes, contexts, ``inner_exception``, urllib3's ``reason``."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
        for attribute in ("inner_exception", "reason"):
            wrapped = getattr(current, attribute, None)
            if isinstance(wrapped, BaseException):
                pending.append(wrapped)
        pending += [a for a in current.args if isinstance(a, BaseException)]


def _name_not_resolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name does not resolve (DNS)."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return True
    return False


class TargetRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
    """azure-core's ``RetryPolicy``, except that a host name that does not resolve fails at once.

    DNS answers "no such name" in milliseconds and will answer it again:
    retrying only delays the hint by the back-off (``increment`` is
    azure-core's documented hook for "may this be retried").
    """

    def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
        if error is not None and classify(error).kind is Kind.HOST_NOT_FOUND:
            return False
        return bool(super().increment(settings, response=response, error=error))


# --------------------------------------------------------------------------
# The hints

#: What to do when no token could be had (not signed in, or a token endpoint
#: that does not answer).
SIGN_IN_HINT = (
    "sign in: `az login` at a terminal (add `--tenant <tenant_id>` for another tenant); in a "
    "pipeline, configure workload identity federation (azure/login or AzureCLI@2 with a "
    "federated service connection: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE); "
    "for the local target, start the emulator (`make emulator`)"
)

_PRIVATE_NETWORK = (
    "run the sync from a network the vault admits: a self-hosted runner (or agent) in the "
    "vault's virtual network or one peered with it, reaching it through its private endpoint "
    "(hosted runners cannot)"
)

#: Hints by (plane, code): the most specific code known (inner, then outer),
#: else the kind's value. ``{placeholders}`` are filled in by the caller
#: where it knows them (:func:`hint`); others read as a general phrase.
HINTS: Mapping[tuple[Plane, str], str] = {
    # Signing in, anywhere
    (Plane.SIGN_IN, Kind.NOT_SIGNED_IN.value): SIGN_IN_HINT,
    (Plane.ARM, Kind.NOT_SIGNED_IN.value): SIGN_IN_HINT,
    (Plane.VAULT, Kind.NOT_SIGNED_IN.value): SIGN_IN_HINT,
    # Resource Manager
    (Plane.ARM, "InvalidAuthenticationTokenTenant"): (
        "the token is from another tenant than the subscription's: set tenant_id in the "
        "environment file to the subscription's tenant, or sign in to it "
        "(`az login --tenant <tenant id>`)"
    ),
    (Plane.ARM, "AuthorizationFailed"): (
        "the deploying identity needs Contributor (or Owner) on the resource group to manage "
        "the vault, and User Access Administrator (or Owner) to create role assignments"
    ),
    (Plane.ARM, Kind.DENIED.value): (
        "the deploying identity needs Contributor (or Owner) on the resource group to manage "
        "the vault, and User Access Administrator (or Owner) to create role assignments"
    ),
    (Plane.ARM, "VaultAlreadyExists"): "vault names are globally unique; choose another vault.name",
    (Plane.ARM, "ConflictError"): "vault names are globally unique; choose another vault.name",
    (Plane.ARM, "VaultNameNotValid"): (
        "vault names are 3-24 letters, digits and hyphens, start with a letter, end with "
        "a letter or digit and have no '--'"
    ),
    (Plane.ARM, "QuotaExceeded"): (
        "a subscription quota was reached; raise it or remove unused resources"
    ),
    (Plane.ARM, "TooManyRequests"): (
        "Azure throttled the requests after the SDK's retries; run again later"
    ),
    (Plane.ARM, Kind.THROTTLED.value): (
        "Azure throttled the requests after the SDK's retries; run again later"
    ),
    (Plane.ARM, "ResourceGroupNotFound"): (
        "create the resource group, or set resource_group.create: true"
    ),
    (Plane.ARM, "SubscriptionNotFound"): (
        "check subscription_id and that the signed-in identity can see it (`az account list`)"
    ),
    (Plane.ARM, "MissingSubscriptionRegistration"): (
        "register the resource provider: `az provider register -n Microsoft.KeyVault`"
    ),
    (Plane.ARM, Kind.HOST_NOT_FOUND.value): (
        "Resource Manager's host name does not resolve: check this machine's DNS and network, "
        "and target.cloud in the environment file"
    ),
    (Plane.ARM, Kind.UNREACHABLE.value): (
        "check the network, or that the emulator is running for the local target"
    ),
    # A vault's data plane
    (Plane.VAULT, Kind.WRONG_TENANT.value): (
        "the vault {vault} belongs to another Entra tenant than the token: set tenant_id in the "
        "environment file to the vault's tenant, or sign in to it (`az login --tenant <id>`)"
    ),
    (Plane.VAULT, "ForbiddenByRbac"): (
        "{identity} needs the role {role} on the vault {vault}; an access entry {grant}. "
        "A new role assignment can take up to 10 minutes to take effect"
    ),
    (Plane.VAULT, Kind.DENIED.value): (
        "{identity} needs the role {role} on the vault {vault}; an access entry {grant}"
    ),
    (Plane.VAULT, "ForbiddenByFirewall"): (
        "the vault's firewall refuses this machine's address: add the runner's egress range to "
        "vault.network_acls.ip_rules in the environment file (and provision), or "
        + _PRIVATE_NETWORK
    ),
    (Plane.VAULT, "ForbiddenByConnection"): (
        "the vault has public_network_access: Disabled: " + _PRIVATE_NETWORK + "; or set "
        "public_network_access: Enabled with network_acls.default_action: Deny and the "
        "runner's egress range in network_acls.ip_rules"
    ),
    (Plane.VAULT, Kind.HOST_NOT_FOUND.value): (
        "the vault's host name {host} does not resolve: check vault.name and target.cloud, that "
        "the vault exists (provision it first), and, behind a private endpoint, that this "
        "machine resolves the private DNS zone privatelink.vaultcore.azure.net"
    ),
    (Plane.VAULT, Kind.UNREACHABLE.value): (
        "the vault {vault} did not answer: check the network path to it, or that the emulator "
        "is running for the local target"
    ),
    (Plane.VAULT, Kind.THROTTLED.value): (
        "the vault throttled the requests after every retry; lower sync.writes_per_10s or "
        "sync.concurrency, or run again later"
    ),
    # The emulator's discovery file
    (Plane.EMULATOR, "StaleDiscovery"): (
        "the emulator stopped without removing its discovery file: start it again with "
        "`make emulator` (or `python -m emulator serve --state-dir {state_dir}`)"
    ),
}

#: How a placeholder reads when the caller does not know its value.
_GENERAL = {
    "identity": "the identity",
    "role": "a Key Vault data role that allows this",
    "vault": "in question",
    "grant": "in the environment file grants it (then run `keyvault-platform provision`)",
    "env": "<env>",
    "host": "in the vault URL",
    "state_dir": "<state dir>",
}


class _Blanks(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return _GENERAL.get(key, f"<{key}>")


def hint(plane: Plane, failure: Failure, **known: str) -> str | None:
    """The remedy for ``failure`` on ``plane``, or None when the table has none.

    ``known`` fills the hint's placeholders (``identity``, ``role``, ``vault``,
    ``grant``, ``env``, ``host``, ``state_dir``); unknown ones read as a
    general phrase.
    """
    for key in (failure.inner_code, failure.code, failure.kind.value):
        template = HINTS.get((plane, key)) if key else None
        if template is not None:
            return string.Formatter().vformat(template, (), _Blanks(known))
    return None


def as_error(
    exc: BaseException, plane: Plane, *, doing: str, address: str | None = None, **known: str
) -> ActionableError:
    """``exc`` as the tool's error: what failed while ``doing`` what, and the table's hint."""
    failure = classify(exc)
    return ActionableError(
        f"could not {doing}: {failure.describe()}",
        hint=hint(plane, failure, **known),
        address=address,
    )
