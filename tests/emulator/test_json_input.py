"""Hostile JSON gets a 400 on every plane, and a handler bug is answered and audited.

Python's ``json`` accepts ``NaN`` and ``Infinity`` and turns ``1e400`` into
``inf``; none of them is JSON a client can mean, and each used to crash a
handler with a 500 that the audit log never saw.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError

from .arm_support import new_group
from .test_wire import API, Raw

NON_FINITE = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"]
OUT_OF_RANGE = [b"1e300", b"-1e300", b"99999999999999999999"]
TOO_DEEP = b"[" * 100_000


@pytest.fixture
def raw(emulator, vault):
    return Raw(emulator, vault)


def _secret_body(field: str, number: bytes) -> bytes:
    return b'{"value":"x","attributes":{"%s":%s}}' % (field.encode(), number)


@pytest.mark.parametrize("number", NON_FINITE + OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["nbf", "exp"])
def test_set_secret_with_an_unusable_date_is_a_400_and_audited(emulator, vault, raw, field, number):
    status, payload = raw("PUT", f"secrets/dated?{API}", raw=_secret_body(field, number))
    assert status == 400, payload
    assert payload["error"]["code"] == "BadParameter"
    assert [r.status for r in emulator.audit(vault=vault.name, operation="SecretSet")] == [400]


@pytest.mark.parametrize("number", NON_FINITE + OUT_OF_RANGE)
def test_update_secret_with_an_unusable_date_is_a_400(raw, number):
    raw("PUT", f"secrets/dated?{API}", {"value": "x"})
    body = b'{"attributes":{"exp":%s}}' % number
    status, payload = raw("PATCH", f"secrets/dated?{API}", raw=body)
    assert status == 400, payload
    assert payload["error"]["code"] == "BadParameter"


def test_dates_at_the_edges_of_the_range_are_kept(raw):
    status, bundle = raw(
        "PUT",
        f"secrets/edges?{API}",
        {"value": "x", "attributes": {"nbf": 0, "exp": 253402300799}},
    )
    assert status == 200, bundle
    assert bundle["attributes"]["nbf"] == 0
    assert bundle["attributes"]["exp"] == 253402300799


def test_too_deeply_nested_json_is_a_400_on_the_data_plane(raw):
    status, payload = raw("PUT", f"secrets/deep?{API}", raw=TOO_DEEP)
    assert status == 400, payload
    assert payload["error"]["message"] == "The request body is not valid JSON."


@pytest.mark.parametrize("body", [b"NaN", b'{"location":"westeurope","tags":{"a":Infinity}}'])
def test_arm_refuses_non_finite_numbers_as_invalid_content(emulator, body):
    group = new_group(emulator)
    status, payload, _ = emulator.arm_request(
        "PUT",
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}",
        raw_body=body,
        api_version="2024-03-01",
    )
    assert status == 400, payload
    assert payload["error"]["code"] == "InvalidRequestContent"


def test_arm_refuses_too_deeply_nested_json(emulator):
    group = new_group(emulator)
    status, payload, _ = emulator.arm_request(
        "PUT",
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}/providers/"
        "Microsoft.KeyVault/vaults/kv-too-deep",
        raw_body=TOO_DEEP,
    )
    assert status == 400, payload
    assert payload["error"]["code"] == "InvalidRequestContent"


def _admin(emulator, action: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{emulator.arm_url}/_emulator/{action}",
        data=body,
        method="POST",
        headers={
            "X-Emulator-Admin-Key": emulator.server.admin_key,
            "Content-Type": "application/json",
        },
    )
    context = ssl.create_default_context(cafile=emulator.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize(
    "action, body",
    [
        ("throttling", b'{"vault":"VAULT","writes_per_10s":NaN}'),
        ("arm-throttling", b'{"enabled":false,"window_s":Infinity}'),
        ("arm-throttling", TOO_DEEP),
    ],
)
def test_admin_api_refuses_unusable_numbers(emulator, vault, action, body):
    status, payload = _admin(emulator, action, body.replace(b"VAULT", vault.name.encode()))
    assert status == 400, payload
    assert payload["error"]["code"] == "BadParameter"


# -- contentType on update (SecretUpdateParameters: contentType is a string) -----------


@pytest.mark.parametrize("content_type", [5, True, {"a": "b"}, ["text/plain"]])
def test_update_secret_refuses_a_content_type_that_is_not_a_string(raw, content_type):
    raw("PUT", f"secrets/typed?{API}", {"value": "x", "contentType": "text/plain"})
    status, payload = raw("PATCH", f"secrets/typed?{API}", {"contentType": content_type})
    assert status == 400, payload
    assert payload["error"]["code"] == "BadParameter"
    status, bundle = raw("GET", f"secrets/typed?{API}")
    assert bundle["contentType"] == "text/plain"  # nothing written


def test_update_secret_with_a_null_content_type_leaves_it_unchanged(raw):
    raw("PUT", f"secrets/typed?{API}", {"value": "x", "contentType": "text/plain"})
    status, item = raw("PATCH", f"secrets/typed?{API}", {"contentType": None})
    assert status == 200, item
    assert item["contentType"] == "text/plain"


def test_update_secret_changes_a_string_content_type(emulator, vault):
    client = emulator.secret_client(vault, "sync")
    client.set_secret("typed", "x", content_type="text/plain")
    updated = client.update_secret_properties("typed", content_type="application/json")
    assert updated.content_type == "application/json"
    assert client.get_secret("typed").properties.content_type == "application/json"


# -- a handler bug: 500 InternalServerError, and an audit record --------------------------


class _Bug(RuntimeError):
    pass


def _explode(*args, **kwargs):
    raise _Bug("a bug in the emulator")


def test_a_data_plane_bug_is_answered_500_and_audited(emulator, vault, monkeypatch):
    client = emulator.secret_client(vault, "sync", retry_total=0)
    client.set_secret("fine", "v")
    monkeypatch.setattr(emulator.world.vault_secrets[vault.name.lower()], "get", _explode)
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("fine")
    assert caught.value.status_code == 500
    assert caught.value.error.code == "InternalServerError"
    records = emulator.audit(vault=vault.name, operation="SecretGet")
    assert [(r.status, r.secret, r.identity) for r in records] == [(500, "fine", "sync")]


def test_an_arm_bug_is_answered_500_and_audited(emulator, monkeypatch):
    group = new_group(emulator)
    monkeypatch.setattr(emulator.server.arm._arm, "get_resource_group", _explode)
    resources = emulator.resource_client(retry_total=0)
    with pytest.raises(HttpResponseError) as caught:
        resources.resource_groups.get(group)
    assert caught.value.status_code == 500
    assert caught.value.error.code == "InternalServerError"
    records = [
        r
        for r in emulator.audit(plane="arm")
        if r.operation == "ResourceGroupGet" and r.resource.lower().endswith(f"/{group}")
    ]
    assert [(r.status, r.identity) for r in records] == [(500, "deployer")]
