"""The two credentials the targets add to azure-identity's.

:class:`TenantPinnedCredential` keeps Resource Manager tokens in the
environment's tenant; :class:`EmulatorIdentityCredential` signs in as one
named emulator identity, so one process can act as several.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)

from keyvault_platform.target.failures import first_line
from keyvault_platform.target.settings import RetrySettings

# Refresh a cached token this long before it expires.
_TOKEN_REFRESH_MARGIN_S = 300
_MANAGED_IDENTITY_API_VERSION = "2019-08-01"


class TenantPinnedCredential:
    """Asks the wrapped credential for tokens of one tenant unless told otherwise.

    ARM's bearer policy names no tenant, so ``DefaultAzureCredential`` would
    return a token of the signed-in account's home tenant (``az login`` into
    another tenant, say) and ARM would answer 401
    ``InvalidAuthenticationTokenTenant``. Key Vault's challenge does name its
    tenant; that request's own ``tenant_id`` wins. Managed identities ignore it.
    """

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self._inner = inner
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"TenantPinnedCredential(tenant_id={self.tenant_id!r})"

    def get_token(self, *scopes: str, tenant_id: str | None = None, **kwargs: Any) -> AccessToken:
        return self._inner.get_token(  # type: ignore[no-any-return]
            *scopes, tenant_id=tenant_id or self.tenant_id, **kwargs
        )

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        merged = dict(options or {})
        if not merged.get("tenant_id"):
            merged["tenant_id"] = self.tenant_id
        return self._inner.get_token_info(*scopes, options=merged)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._inner.close()


class EmulatorIdentityCredential:
    """A managed-identity credential for one emulator identity (sync).

    Speaks the App Service managed identity protocol (``GET
    {endpoint}?api-version=2019-08-01&resource=...`` with
    ``X-IDENTITY-HEADER``), which is what ``ManagedIdentityCredential`` does
    when ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` are set; unlike it, the
    endpoint, header and CA are passed in rather than read from the process
    environment, so one process can act as several identities.

    Its requests get short connection/read timeouts and one retry
    (:class:`~keyvault_platform.target.settings.RetrySettings`' ``token_*``),
    so an endpoint that accepts and never answers fails the call in seconds
    (a ``ClientAuthenticationError``, which no retry policy repeats) instead
    of hanging it.
    """

    def __init__(
        self, *, endpoint: str, header: str, ca_path: str, name: str, retry: RetrySettings
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import RetryPolicy

        self.name = name
        self._endpoint = endpoint
        self._header = header
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessTokenInfo] = {}
        self._client: Any = PipelineClient(
            base_url=endpoint,
            policies=[
                RetryPolicy(
                    retry_total=retry.token_retries,
                    retry_connect=retry.token_retries,
                    retry_read=retry.token_retries,
                    retry_status=retry.token_retries,
                    retry_backoff_factor=retry.backoff_factor,
                    retry_backoff_max=retry.backoff_max_s,
                )
            ],
            connection_verify=ca_path,
            connection_timeout=retry.token_connection_timeout_s,
            read_timeout=retry.token_read_timeout_s,
        )

    def __repr__(self) -> str:
        return f"EmulatorIdentityCredential(name={self.name!r})"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        resource = _resource_for(scopes)
        with self._lock:
            cached = self._tokens.get(resource)
            if cached and cached.expires_on - _TOKEN_REFRESH_MARGIN_S > time.time():
                return cached
            from azure.core.rest import HttpRequest

            request = HttpRequest(
                "GET",
                self._endpoint,
                params={"api-version": _MANAGED_IDENTITY_API_VERSION, "resource": resource},
                headers={"X-IDENTITY-HEADER": self._header, "Metadata": "true"},
            )
            try:
                response = self._client.send_request(request)
            except (ServiceRequestError, ServiceResponseError) as exc:
                # An authentication error, not a network one: the clients'
                # retry policies would retry a network error around every
                # request, multiplying the token timeouts into minutes.
                raise ClientAuthenticationError(
                    message=f"the emulator identity endpoint {self._endpoint} did not answer "
                    f"for identity {self.name!r}: {first_line(exc)}"
                ) from exc
            info = _parse_token_response(response.status_code, response.text(), self.name)
            self._tokens[resource] = info
            return info

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorIdentityCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resource_for(scopes: tuple[str, ...]) -> str:
    if len(scopes) != 1:
        raise ValueError("managed identity tokens take exactly one scope")
    return scopes[0].removesuffix("/.default")


def _parse_token_response(status: int, body: str, name: str) -> AccessTokenInfo:
    if status != 200:
        # The body is an error description, never a token; keep it short anyway.
        raise ClientAuthenticationError(
            message=f"the emulator identity endpoint refused identity {name!r}: "
            f"HTTP {status} {body[:200]}"
        )
    try:
        data = json.loads(body)
        return AccessTokenInfo(str(data["access_token"]), int(data["expires_on"]))
    except (ValueError, KeyError, TypeError):
        raise ClientAuthenticationError(
            message=f"the emulator identity endpoint sent an unreadable token for {name!r}"
        ) from None
