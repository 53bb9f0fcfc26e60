"""Azure exceptions are translated at the boundary into actionable errors."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)
from azure.identity import CredentialUnavailableError
from orgsecrets import (
    AuthenticationFailedError,
    PermissionDeniedError,
    SecretNotFoundError,
    ThrottledError,
    VaultRequestError,
    VaultUnreachableError,
)
from orgsecrets._azure_errors import Operation, is_disabled_secret, map_azure_error

VAULT = "https://kv-app.vault.azure.net/"
GET = Operation.get_secret("contoso--db")


class FakeResponse:
    """Enough of an azure-core HTTP response for HttpResponseError to parse."""

    def __init__(self, status: int, code: str, inner: str | None = None, headers: Any = None):
        import json

        error: dict[str, Any] = {"code": code, "message": f"{code} message"}
        if inner:
            error["innererror"] = {"code": inner}
        self.status_code = status
        self.reason = "reason"
        self.headers = headers or {}
        self.content_type = "application/json"
        self._body = json.dumps({"error": error}).encode()
        self.request = None

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()


def http_error(status: int, code: str, inner: str | None = None, **kw: Any) -> HttpResponseError:
    return HttpResponseError(response=FakeResponse(status, code, inner, **kw))  # type: ignore[arg-type]


def test_permission_denied_names_vault_operation_and_role() -> None:
    error = map_azure_error(
        http_error(403, "Forbidden", "ForbiddenByRbac"), vault_url=VAULT, operation=GET
    )
    assert isinstance(error, PermissionDeniedError)
    assert error.role == "Key Vault Secrets User"
    text = str(error)
    assert VAULT in text and "get secret 'contoso--db'" in text and "Key Vault Secrets User" in text
    assert "getSecret/action" in text
    policy = map_azure_error(
        http_error(403, "Forbidden", "ForbiddenByPolicy"), vault_url=VAULT, operation=GET
    )
    assert "access polic" in str(policy)


def test_throttled_keeps_retry_after() -> None:
    error = map_azure_error(
        http_error(429, "Throttled", headers={"Retry-After": "7"}), vault_url=VAULT, operation=GET
    )
    assert isinstance(error, ThrottledError) and error.retry_after_s == 7.0


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_unreachable(status: int) -> None:
    error = map_azure_error(
        http_error(status, "ServiceUnavailable"), vault_url=VAULT, operation=GET
    )
    assert isinstance(error, VaultUnreachableError) and error.status == status


def test_network_errors_are_unreachable_with_tls_hint() -> None:
    error = map_azure_error(
        ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        vault_url=VAULT,
        operation=GET,
    )
    assert isinstance(error, VaultUnreachableError) and error.status is None
    assert "KEYVAULT_EMULATOR_CA" in str(error)


def test_authentication_errors_say_how_to_fix() -> None:
    unavailable = map_azure_error(
        CredentialUnavailableError("DefaultAzureCredential failed"), vault_url=VAULT, operation=GET
    )
    assert isinstance(unavailable, AuthenticationFailedError)
    assert "az login" in str(unavailable) and "managed identity" in str(unavailable)
    rejected = ClientAuthenticationError(response=FakeResponse(401, "Unauthorized"))  # type: ignore[arg-type]
    error = map_azure_error(rejected, vault_url=VAULT, operation=GET)
    assert isinstance(error, AuthenticationFailedError) and "401" in str(error)


def test_other_refusals_keep_status_and_code() -> None:
    error = map_azure_error(http_error(400, "BadParameter"), vault_url=VAULT, operation=GET)
    assert (
        isinstance(error, VaultRequestError)
        and error.status == 400
        and error.code == "BadParameter"
    )


def test_disabled_secret_is_recognised() -> None:
    assert is_disabled_secret(http_error(403, "Forbidden", "SecretDisabled"))
    assert not is_disabled_secret(http_error(403, "Forbidden", "ForbiddenByRbac"))


def test_not_found_is_a_key_error_naming_names_and_sources() -> None:
    error = SecretNotFoundError(
        "db", names=["contoso--db", "GLOBAL--db"], sources=["Key Vault https://x/"]
    )
    assert isinstance(error, KeyError)
    assert str(error) == (
        "secret 'db' not found: tried 'contoso--db', 'GLOBAL--db' in Key Vault https://x/"
    )
