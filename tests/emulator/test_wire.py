"""Wire shapes: responses match Azure's REST descriptions; bad input gets 4xx."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

SPEC = json.loads(
    (Path(__file__).resolve().parents[1] / "specs" / "keyvault-secrets-2026-04-01.json").read_text()
)
API = "api-version=2026-04-01"


def _validate(definition: str, payload: dict) -> None:
    # The service sends "nextLink": null on the last page, which the
    # description (type string) does not model; treat it as absent.
    if payload.get("nextLink", "") is None:
        payload = {k: v for k, v in payload.items() if k != "nextLink"}
    schema = {"$ref": f"#/definitions/{definition}", "definitions": SPEC["definitions"]}
    jsonschema.Draft4Validator(schema).validate(payload)


class Raw:
    def __init__(self, emulator, vault, identity="sync"):
        self.base = vault.uri
        self.ca = emulator.ca_path
        self.token = emulator.mint_token(identity, "https://vault.azure.net")

    def __call__(self, method, path, body=None, *, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            self.base + path.lstrip("/"),
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else None


@pytest.fixture
def raw(emulator, vault):
    return Raw(emulator, vault)


def test_responses_validate_against_the_rest_description(raw):
    status, bundle = raw(
        "PUT",
        f"secrets/wire-one?{API}",
        {
            "value": "v",
            "tags": {"a": "b"},
            "contentType": "text/plain",
            "attributes": {"enabled": True, "exp": 1900000000},
        },
    )
    assert status == 200
    _validate("SecretBundle", bundle)
    version = bundle["id"].rsplit("/", 1)[-1]
    for path, definition in [
        (f"secrets/wire-one/?{API}", "SecretBundle"),
        (f"secrets/wire-one/{version}?{API}", "SecretBundle"),
        (f"secrets?{API}&maxresults=1", "SecretListResult"),
        (f"secrets/wire-one/versions?{API}", "SecretListResult"),
    ]:
        status, payload = raw("GET", path)
        assert status == 200, payload
        _validate(definition, payload)
    status, payload = raw("PATCH", f"secrets/wire-one/{version}?{API}", {"tags": {"c": "d"}})
    assert status == 200
    _validate("SecretBundle", payload)
    status, backup = raw("POST", f"secrets/wire-one/backup?{API}")
    _validate("BackupSecretResult", backup)
    status, payload = raw("DELETE", f"secrets/wire-one?{API}")
    assert status == 200
    _validate("DeletedSecretBundle", payload)
    status, payload = raw("GET", f"deletedsecrets/wire-one?{API}")
    _validate("DeletedSecretBundle", payload)
    status, payload = raw("GET", f"deletedsecrets?{API}")
    _validate("DeletedSecretListResult", payload)
    status, payload = raw("POST", f"deletedsecrets/wire-one/recover?{API}")
    assert status == 200
    _validate("SecretBundle", payload)
    raw("DELETE", f"secrets/wire-one?{API}")
    status, _ = raw("DELETE", f"deletedsecrets/wire-one?{API}")
    assert status == 403  # purge protection: refused, so restore below needs a new vault
    status, payload = raw("POST", f"secrets/restore?{API}", {"value": backup["value"]})
    assert status == 409
    _validate("KeyVaultError", payload)
    status, payload = raw("GET", f"secrets/missing?{API}")
    assert status == 404
    _validate("KeyVaultError", payload)


def test_the_versions_of_a_name_that_never_existed_are_an_empty_page(raw):
    status, payload = raw("GET", f"secrets/never-existed/versions?{API}")
    assert (status, payload) == (200, {"value": [], "nextLink": None})
    _validate("SecretListResult", payload)


def test_a_deleted_disabled_secret_answers_azures_secret_disabled_error(raw):
    raw("PUT", f"secrets/wire-off?{API}", {"value": "v", "attributes": {"enabled": False}})
    status, _ = raw("DELETE", f"secrets/wire-off?{API}")
    assert status == 200
    status, payload = raw("GET", f"deletedsecrets/wire-off?{API}")
    assert (status, payload) == (
        403,
        {
            "error": {
                "code": "Forbidden",
                "message": "Operation get is not allowed on a disabled secret.",
                "innererror": {"code": "SecretDisabled"},
            }
        },
    )
    _validate("KeyVaultError", payload)
    status, listed = raw("GET", f"deletedsecrets?{API}")
    assert status == 200
    assert [item["id"].rsplit("/", 1)[-1] for item in listed["value"]] == ["wire-off"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("PUT", f"secrets/x?{API}", b"{not json", 400, "BadParameter"),
        ("PUT", f"secrets/x?{API}", b"[1, 2]", 400, "BadParameter"),
        ("PUT", f"secrets/x?{API}", b'{"tags": {}}', 400, "BadParameter"),
        (
            "PUT",
            f"secrets/x?{API}",
            b'{"value": "v", "attributes": {"enabled": "yes"}}',
            400,
            "BadParameter",
        ),
        ("PUT", f"secrets/x?{API}", b'{"value": "v", "tags": {"a": 1}}', 400, "BadParameter"),
        ("PUT", "secrets/x", b'{"value": "v"}', 400, "MissingApiVersionParameter"),
        ("PUT", "secrets/x?api-version=1999-01-01", b'{"value": "v"}', 400, "BadParameter"),
        ("GET", f"nothing/here?{API}", None, 404, "NotFound"),
        ("POST", f"secrets?{API}", b"{}", 405, "MethodNotAllowed"),
        ("GET", f"secrets?{API}&maxresults=26", None, 400, "BadParameter"),
        ("GET", f"secrets?{API}&maxresults=0", None, 400, "BadParameter"),
        ("POST", f"secrets/restore?{API}", b'{"value": "AAAA"}', 400, "BadParameter"),
    ],
)
def test_bad_input_gets_azure_shaped_errors(raw, method, path, body, status, code):
    got, payload = raw(method, path, raw=body)
    assert got == status, payload
    assert payload["error"]["code"] == code
    assert payload["error"]["message"]


def test_oversized_body_is_refused(raw):
    status, payload = raw(
        "PUT", f"secrets/huge?{API}", raw=b'{"value": "' + b"x" * 3_000_000 + b'"}'
    )
    assert status == 413
    assert payload["error"]["code"] == "RequestEntityTooLarge"


def test_garbage_bytes_do_not_hang_or_crash_the_server(emulator, vault, raw):
    port = int(vault.uri.rsplit(":", 1)[1].strip("/"))
    context = ssl.create_default_context(cafile=emulator.ca_path)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"\x00\x01 NOT HTTP \r\n\r\n")
        tls.settimeout(5)
        answer = tls.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\n\r\n")  # plain HTTP on the TLS port
        plain.settimeout(5)
        plain.recv(4096)
    status, _ = raw("GET", f"secrets?{API}")
    assert status == 200  # still serving


def test_restore_response_validates(emulator, vault, raw):
    raw("PUT", f"secrets/moved?{API}", {"value": "v"})
    status, backup = raw("POST", f"secrets/moved/backup?{API}")
    assert status == 200
    target = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets Officer", target.resource_id)
    status, payload = Raw(emulator, target)(
        "POST", f"secrets/restore?{API}", {"value": backup["value"]}
    )
    assert status == 200, payload
    _validate("SecretBundle", payload)
    assert "value" not in payload
