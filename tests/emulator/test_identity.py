"""Managed-identity tokens and the data plane's authentication rules."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from azure.identity import DefaultAzureCredential

from keyvault_emulator.testing import patched_environment


def _call(url, headers=None, method="GET", body=None, ca=None):
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=body)
    context = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_default_azure_credential_gets_a_token_naming_its_principal(emulator):
    with patched_environment(emulator.identity_env("app")):
        token = DefaultAzureCredential().get_token("https://vault.azure.net/.default")
        claims = emulator.world.tokens.verify(token.token, frozenset({"https://vault.azure.net"}))
    assert claims.object_id == emulator.object_id("app")
    assert claims.tenant_id == emulator.tenant_id
    assert token.expires_on > 0


def test_token_endpoint_rejects_a_wrong_header(emulator):
    env = emulator.identity_env("app")
    url = f"{env['IDENTITY_ENDPOINT']}?api-version=2019-08-01&resource=https://vault.azure.net"
    status, _, _ = _call(url, {"X-IDENTITY-HEADER": "forged"}, ca=emulator.ca_path)
    assert status == 401
    status, _, body = _call(url, {"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}, ca=emulator.ca_path)
    assert status == 200
    payload = json.loads(body)
    assert set(payload) >= {"access_token", "expires_on", "resource", "token_type"}


def test_request_without_token_gets_the_challenge(emulator, vault):
    status, headers, body = _call(f"{vault.uri}secrets?api-version=2026-04-01", ca=emulator.ca_path)
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert f'authorization="https://login.microsoftonline.com/{emulator.tenant_id}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge
    assert json.loads(body)["error"]["code"] == "Unauthorized"


@pytest.mark.parametrize(
    ("resource", "lifetime_s", "fragment"),
    [
        ("https://vault.azure.net", -10, "expired"),
        ("https://management.azure.com", None, "Invalid audience"),
    ],
)
def test_expired_and_wrong_audience_tokens_are_rejected(
    emulator, vault, resource, lifetime_s, fragment
):
    token = emulator.mint_token("sync", resource, lifetime_s=lifetime_s)
    status, headers, body = _call(
        f"{vault.uri}secrets?api-version=2026-04-01",
        {"Authorization": f"Bearer {token}"},
        ca=emulator.ca_path,
    )
    assert status == 401
    assert fragment in json.loads(body)["error"]["message"]
    assert "WWW-Authenticate" in headers


def test_tampered_token_is_rejected(emulator, vault):
    token = emulator.mint_token("sync", "https://vault.azure.net")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    status, _, _ = _call(
        f"{vault.uri}secrets?api-version=2026-04-01",
        {"Authorization": f"Bearer {forged}"},
        ca=emulator.ca_path,
    )
    assert status == 401
