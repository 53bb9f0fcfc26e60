"""Resource Manager on the wire: Azure-shaped errors for bad input, limits, faults, audit."""

from __future__ import annotations

import random
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import AUTH_API, SECRETS_USER, error_code, new_group, vault_parameters


@pytest.fixture(scope="module")
def paths(emulator: RunningEmulator) -> dict[str, str]:
    group = new_group(emulator, "rg-wire")
    sub = f"/subscriptions/{emulator.subscription_id}"
    return {
        "sub": sub,
        "group": f"{sub}/resourceGroups/{group}",
        "vault": f"{sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/"
        + unique_vault_name(),
    }


def _code(response: tuple[int, object, dict[str, str]]) -> tuple[int, str]:
    status, body, _ = response
    assert isinstance(body, dict) and set(body) == {"error"}, body
    return status, body["error"]["code"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"],
)
def test_malformed_bodies_are_invalid_request_content(emulator, paths, raw):
    assert _code(emulator.arm_request("PUT", paths["vault"], raw_body=raw)) == (
        400,
        "InvalidRequestContent",
    )
    assert _code(emulator.arm_request("PUT", paths["group"], raw_body=raw, api_version=None)) in (
        (400, "MissingApiVersionParameter"),
    )
    assignment = (
        f"{paths['group']}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    )
    assert _code(emulator.arm_request("PUT", assignment, raw_body=raw, api_version=AUTH_API)) == (
        400,
        "InvalidRequestContent",
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"location": "westeurope"},
        {"location": 7, "properties": {}},
        {"location": "westeurope", "properties": []},
        {"location": "westeurope", "properties": {"tenantId": "nope", "sku": {}}},
        {"location": "westeurope", "properties": {"sku": "standard", "tenantId": None}},
        {"location": "westeurope", "tags": ["a"], "properties": {}},
        {"location": "westeurope", "tags": {"a": 1}, "properties": {}},
        {"location": "westeurope", "properties": {"enableRbacAuthorization": "yes"}},
        {"location": "westeurope", "properties": {"softDeleteRetentionInDays": "7"}},
        {"location": "westeurope", "properties": {"accessPolicies": [{"objectId": 1}]}},
        {"location": "westeurope", "properties": {"accessPolicies": "all"}},
        {
            "location": "westeurope",
            "properties": {
                "tenantId": "00000000-0000-0000-0000-000000000000",
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [
                    {"tenantId": "t", "objectId": "o", "permissions": {"secrets": [1]}}
                ],
            },
        },
        {"location": "westeurope", "properties": {"createMode": "restore"}},
        {"location": "westeurope", "properties": {"networkAcls": "open"}},
    ],
)
def test_odd_vault_bodies_get_4xx_never_a_crash(emulator, paths, body):
    status, payload, _ = emulator.arm_request("PUT", paths["vault"], body=body)
    assert 400 <= status < 500, payload
    assert isinstance(payload["error"]["code"], str) and payload["error"]["message"]


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"roleDefinitionId": 5, "principalId": "x"},
        {"roleDefinitionId": "", "principalId": ""},
        {"roleDefinitionId": "/nope", "principalId": "not-a-guid"},
        {"roleDefinitionId": SECRETS_USER, "principalId": str(uuid.uuid4()), "principalType": 3},
        {"roleDefinitionId": SECRETS_USER, "principalId": str(uuid.uuid4()), "principalType": "X"},
        {"roleDefinitionId": SECRETS_USER, "principalId": str(uuid.uuid4()), "condition": []},
    ],
)
def test_odd_role_assignment_bodies_get_4xx_never_a_crash(emulator, paths, properties):
    path = f"{paths['group']}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    status, payload, _ = emulator.arm_request(
        "PUT", path, body={"properties": properties}, api_version=AUTH_API
    )
    assert 400 <= status < 500, payload


def test_api_versions(emulator, paths):
    assert _code(emulator.arm_request("GET", paths["vault"], api_version=None)) == (
        400,
        "MissingApiVersionParameter",
    )
    assert _code(emulator.arm_request("GET", paths["vault"], api_version="2099-01-01")) == (
        400,
        "NoRegisteredProviderFound",
    )
    assert _code(emulator.arm_request("GET", paths["group"], api_version="1999-01-01")) == (
        400,
        "InvalidApiVersionParameter",
    )
    # An older Key Vault api-version is served (same shapes).
    status, _, _ = emulator.arm_request("GET", paths["group"], api_version="2025-04-01")
    assert status == 200


def test_unknown_namespaces_types_methods_and_paths(emulator, paths):
    assert _code(
        emulator.arm_request("GET", f"{paths['group']}/providers/Microsoft.Nope/things/x")
    ) == (400, "InvalidResourceNamespace")
    assert _code(
        emulator.arm_request("GET", f"{paths['group']}/providers/Microsoft.KeyVault/gizmos/x")
    ) == (400, "InvalidResourceType")
    assert _code(emulator.arm_request("POST", paths["vault"], body={})) == (
        405,
        "MethodNotAllowed",
    )
    assert _code(emulator.arm_request("GET", "/not/arm"))[0] == 404


def test_unknown_subscription_is_not_found(emulator):
    other = f"/subscriptions/{uuid.uuid4()}/resourcegroups/rg"
    assert _code(emulator.arm_request("GET", other, api_version="2025-04-01")) == (
        404,
        "SubscriptionNotFound",
    )


def test_authentication_errors(emulator, paths):
    status, body, headers = emulator.arm_request("GET", paths["vault"], identity=None)
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    assert headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    vault_token = emulator.mint_token("deployer", "https://vault.azure.net")
    assert _code(emulator.arm_request("GET", paths["vault"], token=vault_token)) == (
        401,
        "InvalidAuthenticationTokenAudience",
    )
    assert _code(emulator.arm_request("GET", paths["vault"], token="a.b.c")) == (
        401,
        "InvalidAuthenticationToken",
    )
    expired = emulator.mint_token("deployer", "https://management.azure.com", lifetime_s=-10)
    assert _code(emulator.arm_request("GET", paths["vault"], token=expired)) == (
        401,
        "ExpiredAuthenticationToken",
    )


def test_throttling_answers_429_with_retry_after(emulator, paths):
    name = f"busy-{uuid.uuid4().hex[:6]}"
    emulator.declare_identity(name)
    emulator.assign_role(name, "Reader", paths["sub"])
    emulator.set_arm_throttling(reads=3, writes=2, window_s=300)
    try:
        for _ in range(3):
            assert (
                emulator.arm_request(
                    "GET", paths["group"], identity=name, api_version="2025-04-01"
                )[0]
                == 200
            )
        status, body, headers = emulator.arm_request(
            "GET", paths["group"], identity=name, api_version="2025-04-01"
        )
        assert (status, body["error"]["code"]) == (429, "SubscriptionRequestsThrottled")
        assert int(headers["Retry-After"]) >= 1
        # Limits are per principal: the deployer is not held back by another's reads.
        assert emulator.arm_request("GET", paths["group"], api_version="2025-04-01")[0] == 200
    finally:
        emulator.set_arm_throttling()


def test_injected_faults_apply_per_operation(emulator, paths):
    emulator.set_faults(None, error_rate=1.0, statuses=[503], operations=["ResourceGroupGet"])
    try:
        status, body, headers = emulator.arm_request(
            "GET", paths["group"], api_version="2025-04-01"
        )
        assert (status, body["error"]["code"]) == (503, "ServiceUnavailable")
        assert headers["Retry-After"] == "1"
        assert emulator.arm_request("GET", paths["vault"])[0] in (200, 404)  # unaffected
    finally:
        emulator.clear_faults(None)
    emulator.set_faults(None, outage=True, outage_drop=True, operations=["ResourceGroupList"])
    try:
        with pytest.raises(requests.ConnectionError):
            emulator.arm_request("GET", f"{paths['sub']}/resourcegroups", api_version="2025-04-01")
    finally:
        emulator.clear_faults(None)


def test_sdk_retries_through_a_transient_arm_fault(emulator, paths):
    emulator.set_faults(None, error_rate=0.5, statuses=[503], retry_after_s=0, seed=7)
    try:
        client = emulator.resource_client(retry_total=10, retry_status=10, retry_backoff_factor=0)
        name = paths["group"].rsplit("/", 1)[-1]
        for _ in range(5):
            assert client.resource_groups.get(name).name == name
    finally:
        emulator.clear_faults(None)


def test_every_request_is_audited_with_principal_method_resource_and_status(emulator, paths):
    before = len(emulator.audit(plane="arm"))
    client = emulator.keyvault_mgmt_client()
    group = paths["group"].rsplit("/", 1)[-1]
    name = unique_vault_name()
    client.vaults.begin_create_or_update(group, name, vault_parameters(emulator)).result()
    client.vaults.get(group, name)
    with pytest.raises(HttpResponseError) as missing:
        client.vaults.get(group, unique_vault_name())
    assert error_code(missing.value) == "ResourceNotFound"
    emulator.arm_request("GET", paths["vault"], identity=None)
    records = emulator.audit(plane="arm")[before:]
    assert [(r.operation, r.method, r.status) for r in records] == [
        ("VaultPut", "PUT", 201),
        ("VaultGet", "GET", 200),
        ("VaultGet", "GET", 404),
        ("VaultGet", "GET", 401),
    ]
    assert {r.identity for r in records[:3]} == {"deployer"}
    assert records[0].principal == emulator.object_id("deployer")
    assert records[0].resource == f"{paths['group']}/providers/Microsoft.KeyVault/vaults/{name}"
    assert records[3].principal == ""
    assert [r.is_write for r in records] == [True, False, False, False]


def _random_json(rng: random.Random, depth: int = 0) -> object:
    choices = ["null", "bool", "int", "str", "list", "dict"] if depth < 3 else ["str", "int"]
    kind = rng.choice(choices)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 7, 90, 2**40])
    if kind == "str":
        return rng.choice(["", "x", "westeurope", "A", "standard", "recover", "add", "é\u0000"])
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "location",
        "tags",
        "properties",
        "sku",
        "tenantId",
        "accessPolicies",
        "permissions",
        "secrets",
        "objectId",
        "enablePurgeProtection",
        "softDeleteRetentionInDays",
        "createMode",
        "roleDefinitionId",
        "principalId",
        "principalType",
        "name",
        "type",
        "networkAcls",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_seeded_random_bodies_never_crash_the_plane(emulator, paths):
    rng = random.Random(20260515)
    vault_name = paths["vault"].rsplit("/", 1)[-1]
    emulator.keyvault_mgmt_client().vaults.begin_create_or_update(
        paths["group"].rsplit("/", 1)[-1], vault_name, vault_parameters(emulator)
    ).result()
    targets = [
        ("PUT", paths["vault"], None),
        ("PATCH", paths["vault"], None),
        ("PUT", f"{paths['vault']}/accessPolicies/add", None),
        ("PUT", f"{paths['vault']}/accessPolicies/remove", None),
        ("PUT", paths["group"], "2025-04-01"),
        ("PATCH", paths["group"], "2025-04-01"),
        ("POST", f"{paths['sub']}/providers/Microsoft.KeyVault/checkNameAvailability", None),
        (
            "PUT",
            f"{paths['vault']}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
            AUTH_API,
        ),
    ]
    for _ in range(150):
        method, path, version = rng.choice(targets)
        body = _random_json(rng)
        status, payload, _ = emulator.arm_request(
            method, path, body=body, api_version=version or "2026-05-15"
        )
        assert status < 500, (method, path, body, payload)
    # Whatever was accepted left a vault the SDK can still read.
    vault = emulator.keyvault_mgmt_client().vaults.get(
        paths["group"].rsplit("/", 1)[-1], vault_name
    )
    assert vault.properties.enable_purge_protection is True
