"""The one failure classifier and its hint table: pure logic over SDK exceptions, no network."""

from __future__ import annotations

import email.utils
import json
import socket
import time
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest, HttpResponse
from keyvault_platform.target.failures import (
    HINTS,
    Failure,
    Kind,
    Plane,
    TargetRetryPolicy,
    classify,
    hint,
)


class _Response(HttpResponse):  # type: ignore[misc]
    """A service's answer, built in memory (azure-core's own response base)."""

    def __init__(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        super().__init__(HttpRequest("GET", "https://kv.example/secrets"), None)
        self.status_code = status
        self.reason = "Reason"
        self.headers = headers
        self.content_type = "application/json"
        self._body = json.dumps(body).encode() if body is not None else b""

    def body(self) -> bytes:
        return self._body


def failure(
    status: int,
    code: str = "",
    inner: str = "",
    message: str = "the first line\nsecond line",
    headers: dict[str, str] | None = None,
) -> Failure:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    body = {"error": error} if code else None
    return classify(HttpResponseError(response=_Response(status, body, headers or {})))


@pytest.mark.parametrize(
    ("status", "code", "inner", "kind"),
    [
        (403, "Forbidden", "ForbiddenByRbac", Kind.DENIED),
        (403, "Forbidden", "ForbiddenByFirewall", Kind.NETWORK_BLOCKED),
        (403, "Forbidden", "ForbiddenByConnection", Kind.NETWORK_BLOCKED),
        (403, "AuthorizationFailed", "", Kind.DENIED),
        (401, "InvalidAuthenticationTokenTenant", "", Kind.WRONG_TENANT),
        (401, "AuthenticationFailed", "", Kind.UNAUTHENTICATED),
        (404, "SecretNotFound", "", Kind.NOT_FOUND),
        (409, "Conflict", "ObjectIsDeletedButRecoverable", Kind.CONFLICT),
        (429, "Throttled", "", Kind.THROTTLED),
        (503, "ServiceUnavailable", "", Kind.SERVICE_ERROR),
        (408, "Timeout", "", Kind.SERVICE_ERROR),
        (400, "BadParameter", "", Kind.REFUSED),
    ],
)
def test_each_answer_has_its_kind(status: int, code: str, inner: str, kind: Kind) -> None:
    found = failure(status, code, inner)
    assert (found.kind, found.status, found.code, found.inner_code) == (kind, status, code, inner)
    assert found.message == "the first line"  # only the first line is kept


def test_key_vaults_wrong_tenant_is_told_by_its_message() -> None:
    found = failure(401, "Unauthorized", message="AKV10032: Invalid issuer. Expected one of ...")
    assert found.kind is Kind.WRONG_TENANT


def test_a_bare_429_is_too_many_requests() -> None:
    assert failure(429).code == "TooManyRequests"


def test_retry_after_is_read_as_azure_core_reads_it_seconds_and_http_dates() -> None:
    assert failure(429, "Throttled", headers={"Retry-After": "7"}).retry_after_s == 7
    assert failure(503, "Busy", headers={"retry-after-ms": "1500"}).retry_after_s == 1.5
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = failure(503, "Busy", headers={"Retry-After": when}).retry_after_s
    assert seconds is not None and 100 < seconds <= 120
    assert failure(503, "Busy").retry_after_s is None


def test_a_credential_that_got_no_token_is_not_signed_in() -> None:
    found = classify(ClientAuthenticationError(message="DefaultAzureCredential failed\nmore"))
    assert (found.kind, found.status, found.message) == (
        Kind.NOT_SIGNED_IN,
        None,
        "DefaultAzureCredential failed",
    )
    assert "az login" in (hint(Plane.SIGN_IN, found) or "")
    assert "workload identity" in (hint(Plane.ARM, found) or "")


def _unresolved() -> ServiceRequestError:
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as dns:
            raise ConnectionError("Max retries exceeded") from dns
    except ConnectionError as wrapped:
        return ServiceRequestError("cannot connect", error=wrapped)


def test_connection_failures_tell_a_host_that_does_not_resolve_from_one_that_does_not_answer() -> (
    None
):
    assert classify(_unresolved()).kind is Kind.HOST_NOT_FOUND
    assert classify(ServiceRequestError("refused")).kind is Kind.UNREACHABLE
    assert classify(ServiceResponseError("dropped")).kind is Kind.UNREACHABLE
    assert classify(ValueError("x")).kind is Kind.OTHER


def test_the_retry_policy_does_not_retry_a_host_that_does_not_resolve() -> None:
    policy = TargetRetryPolicy(retry_total=5)
    settings = policy.configure_retries({})
    request = PipelineRequest(HttpRequest("GET", "https://kv.example/"), PipelineContext(None))
    assert policy.increment(settings, response=request, error=_unresolved()) is False
    settings = policy.configure_retries({})
    refused = ServiceRequestError("refused")
    assert policy.increment(settings, response=request, error=refused) is True


def test_what_stops_an_apply_and_what_is_retried() -> None:
    stopping = {k for k in Kind if k.stops_every_change}
    assert stopping == {
        Kind.NOT_SIGNED_IN,
        Kind.WRONG_TENANT,
        Kind.DENIED,
        Kind.NETWORK_BLOCKED,
        Kind.HOST_NOT_FOUND,
    }
    assert {k for k in Kind if k.transient} == {
        Kind.THROTTLED,
        Kind.SERVICE_ERROR,
        Kind.UNREACHABLE,
    }
    assert not stopping & {k for k in Kind if k.transient}


def test_the_most_specific_code_wins_and_facts_fill_the_hint() -> None:
    denied = failure(403, "Forbidden", "ForbiddenByRbac")
    text = hint(
        Plane.VAULT, denied, identity="the sync identity 'sync'", role="Key Vault Secrets Officer"
    )
    assert text is not None and "the sync identity 'sync' needs the role Key Vault Secrets" in text
    assert "{" not in (hint(Plane.VAULT, denied) or "{")  # unknown facts read as words
    blocked = failure(403, "Forbidden", "ForbiddenByFirewall")
    assert "ip_rules" in (hint(Plane.VAULT, blocked) or "")
    assert "AuthorizationFailed" not in (hint(Plane.ARM, failure(403, "Whatever")) or "x")
    assert "Contributor" in (hint(Plane.ARM, failure(403, "Whatever")) or "")
    assert hint(Plane.VAULT, failure(404, "SecretNotFound")) is None


def test_every_hint_reads_without_its_facts() -> None:
    for (plane, key), _template in HINTS.items():
        kind = next((k for k in Kind if k.value == key), Kind.OTHER)
        text = hint(plane, Failure(kind, code=key))
        assert text and "{" not in text and "}" not in text, (plane, key, text)


def test_sdk_subclasses_classify_by_status() -> None:
    missing = ResourceNotFoundError(response=_Response(404, None, {}))
    assert classify(missing).kind is Kind.NOT_FOUND
