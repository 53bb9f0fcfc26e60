"""Translate azure-core / azure-identity exceptions into :mod:`orgsecrets.errors`.

The one place that knows Azure's exception types and error codes. Messages
name the vault, the operation, the status and the service's error code; the
service's own message is kept for 401/403 (it names the caller and the data
action, never a value). Nothing here reads a request or response body
beyond the parsed error object.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from . import naming
from ._retry import is_unknown_host
from .errors import (
    SECRETS_USER_ROLE,
    AuthenticationFailedError,
    PermissionDeniedError,
    ThrottledError,
    VaultError,
    VaultHostNotFoundError,
    VaultRequestError,
    VaultUnreachableError,
)

__all__ = ["Operation", "is_disabled_secret", "map_azure_error"]


class Operation:
    """A data-plane operation: words for messages and the RBAC data action it needs."""

    __slots__ = ("data_action", "description", "secret_name")

    def __init__(self, description: str, data_action: str, secret_name: str | None = None) -> None:
        self.description = description
        self.data_action = data_action
        self.secret_name = secret_name

    @classmethod
    def get_secret(cls, vault_name: str) -> Operation:
        return cls(
            f"get secret {vault_name!r}",
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            vault_name,
        )

    @classmethod
    def list_secrets(cls) -> Operation:
        return cls("list secrets", "Microsoft.KeyVault/vaults/secrets/readMetadata/action")


_AUTH_HINT = (
    "In Azure, enable a managed identity on the app (set AZURE_CLIENT_ID for a user-assigned "
    "one); on a workstation, run `az login`, or unset AZURE_KEY_VAULT_URL to read local "
    "sources instead; against the local emulator, load `make emulator-env IDENTITY=app`."
)

_MAX_SERVICE_MESSAGE = 400


def _codes(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """The service's error code and innererror code, if the body had them."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    inner = getattr(error, "innererror", None)
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    return (
        code if isinstance(code, str) else None,
        inner_code if isinstance(inner_code, str) else None,
    )


def _service_message(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if not isinstance(message, str) or not message:
        message = (exc.message or "").splitlines()[0] if exc.message else ""
    return message[:_MAX_SERVICE_MESSAGE]


def _retry_after_s(exc: HttpResponseError) -> float | None:
    response = exc.response
    headers: Any = getattr(response, "headers", None)
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        raw = headers.get(header)
        if raw:
            try:
                return float(raw) * scale
            except ValueError:
                pass
    raw = headers.get("Retry-After")
    if raw:
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def is_disabled_secret(exc: HttpResponseError) -> bool:
    """True for Key Vault's 403 on a disabled secret (treated as "not found" by the store)."""
    code, inner = _codes(exc)
    return exc.status_code == 403 and "disabled" in f"{code} {inner}".lower()


def map_azure_error(exc: AzureError, *, vault_url: str, operation: Operation) -> VaultError:
    """The :class:`VaultError` that explains ``exc``; raise it ``from exc``."""
    what = operation.description
    if isinstance(exc, CredentialUnavailableError):
        return AuthenticationFailedError(
            f"no Azure credential is available to {what} in {vault_url}: "
            f"{_service_message(exc)}. {_AUTH_HINT}",
            vault_url=vault_url,
            operation=what,
        )
    if isinstance(exc, ClientAuthenticationError):
        status = exc.status_code
        if status == 401:
            detail = (
                f"the vault rejected the token (401 {_service_message(exc)}). Check that the "
                "identity belongs to the vault's tenant (AZURE_TENANT_ID) and that the "
                "clock is right"
            )
        elif status == 403:
            return _permission_denied(exc, vault_url=vault_url, operation=operation)
        else:
            detail = f"could not get a token: {_service_message(exc)}"
        return AuthenticationFailedError(
            f"authentication failed to {what} in {vault_url}: {detail}. {_AUTH_HINT}",
            vault_url=vault_url,
            operation=what,
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        code, inner = _codes(exc)
        if status == 403:
            return _permission_denied(exc, vault_url=vault_url, operation=operation)
        if status == 429:
            retry_after = _retry_after_s(exc)
            hint = f"; it asked to retry after {retry_after:g} s" if retry_after else ""
            return ThrottledError(
                f"Key Vault {vault_url} throttled {what} (429) after every retry{hint}. "
                "Reads are limited per vault (4,000 per 10 s): cache longer, prefetch, or "
                "spread load across vaults",
                vault_url=vault_url,
                operation=what,
                retry_after_s=retry_after,
            )
        if status == 408 or status >= 500:
            return VaultUnreachableError(
                f"Key Vault {vault_url} failed to {what}: {status} {code or ''} after every "
                "retry".replace("  ", " "),
                vault_url=vault_url,
                operation=what,
                status=status,
            )
        return VaultRequestError(
            f"Key Vault {vault_url} refused to {what}: {status} {code or ''}"
            f"{'/' + inner if inner else ''}: {_service_message(exc)}",
            vault_url=vault_url,
            operation=what,
            status=status,
            code=code,
        )
    if isinstance(exc, ServiceRequestError) and is_unknown_host(exc):
        host = urlsplit(vault_url).hostname
        return VaultHostNotFoundError(
            f"cannot {what}: the host {host!r} of vault URL {vault_url} does not resolve "
            "(no such name in DNS). Check the vault URL (AZURE_KEY_VAULT_URL): a typo, or a "
            "vault that was deleted; a vault's URL is https://<name>.vault.azure.net/ in the "
            "public cloud",
            vault_url=vault_url,
            operation=what,
            status=None,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        text = str(exc)
        hint = ""
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
            hint = (
                " The TLS certificate was not trusted: against the local emulator set "
                "KEYVAULT_EMULATOR_CA to its CA file."
            )
        return VaultUnreachableError(
            f"cannot reach Key Vault {vault_url} to {what}: "
            f"{type(exc).__name__}: {text.splitlines()[0][:_MAX_SERVICE_MESSAGE] if text else ''}"
            f".{hint}",
            vault_url=vault_url,
            operation=what,
            status=None,
        )
    return VaultRequestError(
        f"Key Vault {vault_url}: {what} failed: {type(exc).__name__}: {_service_message(exc)}",
        vault_url=vault_url,
        operation=what,
        status=None,
        code=None,
    )


def _org_of(secret_name: str | None) -> str | None:
    """The org of an org-scoped secret name, or None (GLOBAL, unparsable, no name)."""
    if secret_name is None:
        return None
    try:
        parsed = naming.parse_secret_name(secret_name)
    except naming.InvalidSecretNameError:
        return None
    return None if parsed.is_global else parsed.scope


def _permission_denied(
    exc: AzureError, *, vault_url: str, operation: Operation
) -> PermissionDeniedError:
    inner = _codes(exc)[1] if isinstance(exc, HttpResponseError) else None
    if inner == "ForbiddenByPolicy":
        how = (
            "the vault uses access policies: add an access policy granting secret 'get' and "
            "'list' to the identity, or switch the vault to Azure RBAC and assign "
            f"'{SECRETS_USER_ROLE}'"
        )
    else:
        how = (
            f"assign the identity the '{SECRETS_USER_ROLE}' role on the vault (or on the "
            f"secret); it grants {operation.data_action}"
        )
        org = _org_of(operation.secret_name)
        if org is not None:
            # An org-limited grant (an ABAC condition on the secret name) refuses
            # other orgs' names with the same 403 as a missing grant.
            how += (
                f". If the identity's role assignment is limited to some orgs (a condition "
                f"on the secret name: an access entry with orgs), the condition excludes "
                f"{operation.secret_name!r}: org {org!r} is not among the orgs it may read; "
                "add the org to that entry, or read it with an identity that serves it"
            )
    return PermissionDeniedError(
        f"permission denied to {operation.description} in Key Vault {vault_url}: {how}. "
        f"The vault said: {_service_message(exc)}",
        vault_url=vault_url,
        operation=operation.description,
        role=SECRETS_USER_ROLE,
    )
