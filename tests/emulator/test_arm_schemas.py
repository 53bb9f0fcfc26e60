"""ARM responses validate against Azure's REST descriptions in tests/specs.

Each response is checked against the schema the description gives for that
path, method and status, and also for keys the schema does not declare (a
misspelt property would otherwise pass, since the descriptions allow extra
keys).

The descriptions reference ARM's shared common types (v5 ``types.json``:
``ProxyResource``, ``TrackedResource``, ``SystemData``; v2 ``ErrorResponse``),
which are not copied into tests/specs. They are stubbed below from their
published shape; anything else external is replaced by an empty schema, so
it is not checked (none of the responses tested here use one).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import AUTH_API, KV_API, SECRETS_USER, new_group, role_definition_id

SPECS = Path(__file__).resolve().parents[1] / "specs"
KEYVAULT = json.loads((SPECS / "keyvault-management-2026-05-15.json").read_text())
AUTHORIZATION = json.loads((SPECS / "authorization-RoleAssignmentsCalls.json").read_text())

_SYSTEM_DATA = {
    "type": "object",
    "properties": {
        "createdBy": {"type": "string"},
        "createdByType": {
            "type": "string",
            "enum": ["User", "Application", "ManagedIdentity", "Key"],
        },
        "createdAt": {"type": "string", "format": "date-time"},
        "lastModifiedBy": {"type": "string"},
        "lastModifiedByType": {
            "type": "string",
            "enum": ["User", "Application", "ManagedIdentity", "Key"],
        },
        "lastModifiedAt": {"type": "string", "format": "date-time"},
    },
}
_RESOURCE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "systemData": {"$ref": "#/definitions/_SystemData"},
    },
}
STUBS = {
    "ProxyResource": {"allOf": [{"$ref": "#/definitions/_Resource"}]},
    "TrackedResource": {
        "allOf": [{"$ref": "#/definitions/_Resource"}],
        "properties": {
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "location": {"type": "string"},
        },
        "required": ["location"],
    },
    "ErrorResponse": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "target": {"type": "string"},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    },
}


def _localise(node: Any) -> Any:
    """Point external $refs at the stubs (or at nothing)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            name = ref.rsplit("/", 1)[-1]
            return {"$ref": f"#/definitions/_Stub{name}"} if name in STUBS else {}
        return {k: _localise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_localise(v) for v in node]
    return node


def _definitions(spec: dict[str, Any]) -> dict[str, Any]:
    definitions = _localise(copy.deepcopy(spec["definitions"]))
    definitions.update({f"_Stub{k}": _localise(v) for k, v in STUBS.items()})
    definitions["_Resource"] = _RESOURCE
    definitions["_SystemData"] = _SYSTEM_DATA
    return definitions


DEFINITIONS = {"keyvault": _definitions(KEYVAULT), "authorization": _definitions(AUTHORIZATION)}


def _response_schema(spec_name: str, template: str, method: str, status: int) -> dict[str, Any]:
    spec = KEYVAULT if spec_name == "keyvault" else AUTHORIZATION
    responses = spec["paths"][template][method.lower()]["responses"]
    entry = responses.get(str(status)) or responses["default"]
    schema = _localise(entry.get("schema") or {})
    return {**schema, "definitions": DEFINITIONS[spec_name]}


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _declared(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Every property a schema declares, through allOf."""
    schema = _resolve(schema, definitions)
    properties = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        properties.update(_declared(part, definitions))
    return properties


def _undeclared(
    instance: Any, schema: dict[str, Any], definitions: dict[str, Any], path: str = ""
) -> list[str]:
    schema = _resolve(schema, definitions)
    found: list[str] = []
    if isinstance(instance, dict):
        declared = _declared(schema, definitions)
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in declared:
                found += _undeclared(value, declared[key], definitions, f"{path}.{key}")
            elif isinstance(extra, dict):
                found += _undeclared(value, extra, definitions, f"{path}.{key}")
            elif declared:
                found.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            found += _undeclared(item, schema["items"], definitions, f"{path}[{index}]")
    return found


def check(spec_name: str, template: str, method: str, status: int, body: Any) -> None:
    schema = _response_schema(spec_name, template, method, status)
    jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(body)
    assert _undeclared(body, schema, schema["definitions"]) == []


_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}"
VAULT = _RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}"


@pytest.fixture(scope="module")
def world(emulator: RunningEmulator) -> dict[str, str]:
    group = new_group(emulator, "rg-schema")
    sub = f"/subscriptions/{emulator.subscription_id}"
    return {
        "group": group,
        "sub": emulator.subscription_id,
        "kv": f"{sub}/providers/Microsoft.KeyVault",
        "vaults": f"{sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults",
    }


def _vault_body(emulator: RunningEmulator) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "tags": {"owner": "platform"},
        "properties": {
            "tenantId": emulator.tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": True,
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": True,
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow"},
        },
    }


def test_vault_operations_match_the_description(emulator, world):
    name = unique_vault_name()
    path = f"{world['vaults']}/{name}"
    status, body, headers = emulator.arm_request("PUT", path, body=_vault_body(emulator))
    assert status == 201
    assert "Location" not in headers  # the SDK's poller sees a finished operation
    check("keyvault", VAULT, "PUT", status, body)
    status, body, _ = emulator.arm_request("PUT", path, body=_vault_body(emulator))
    assert status == 200
    check("keyvault", VAULT, "PUT", status, body)
    status, body, _ = emulator.arm_request("GET", path)
    check("keyvault", VAULT, "GET", status, body)
    status, body, _ = emulator.arm_request("PATCH", path, body={"tags": {"a": "b"}})
    assert status == 200
    check("keyvault", VAULT, "PATCH", status, body)
    status, body, _ = emulator.arm_request("GET", world["vaults"])
    check("keyvault", _RG + "/providers/Microsoft.KeyVault/vaults", "GET", status, body)
    status, body, _ = emulator.arm_request(
        "GET", f"/subscriptions/{world['sub']}/providers/Microsoft.KeyVault/vaults"
    )
    check("keyvault", _SUB + "/providers/Microsoft.KeyVault/vaults", "GET", status, body)
    status, body, _ = emulator.arm_request(
        "POST",
        f"/subscriptions/{world['sub']}/providers/Microsoft.KeyVault/checkNameAvailability",
        body={"name": name, "type": "Microsoft.KeyVault/vaults"},
    )
    check(
        "keyvault", _SUB + "/providers/Microsoft.KeyVault/checkNameAvailability", "POST", 200, body
    )
    assert body["nameAvailable"] is False

    status, body, _ = emulator.arm_request("DELETE", path)
    assert (status, body) == (200, None)
    deleted = f"{world['kv']}/locations/westeurope/deletedVaults/{name}"
    status, body, _ = emulator.arm_request("GET", deleted)
    check(
        "keyvault",
        _SUB + "/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vaultName}",
        "GET",
        status,
        body,
    )
    assert body["properties"]["vaultId"] == path
    status, body, _ = emulator.arm_request(
        "GET", f"/subscriptions/{world['sub']}/providers/Microsoft.KeyVault/deletedVaults"
    )
    check("keyvault", _SUB + "/providers/Microsoft.KeyVault/deletedVaults", "GET", status, body)
    status, body, _ = emulator.arm_request("POST", deleted + "/purge")
    assert status == 400
    check(
        "keyvault",
        _SUB + "/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vaultName}/purge",
        "POST",
        status,
        body,
    )


def test_vault_errors_are_cloud_errors(emulator, world):
    path = f"{world['vaults']}/x--y"
    status, body, _ = emulator.arm_request("PUT", path, body=_vault_body(emulator))
    assert status == 400
    check("keyvault", VAULT, "PUT", status, body)
    assert body["error"]["code"] == "VaultNameNotValid"


def test_role_assignment_operations_match_the_description(emulator, world):
    scope = f"/subscriptions/{world['sub']}/resourceGroups/{world['group']}"
    name = str(uuid.uuid4())
    template = "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}"
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    body = {
        "properties": {
            "roleDefinitionId": role_definition_id(emulator, SECRETS_USER),
            "principalId": emulator.object_id("app"),
            "principalType": "ServicePrincipal",
            "description": "schema check",
        }
    }
    for expected in (201, 200):
        status, payload, _ = emulator.arm_request("PUT", path, body=body, api_version=AUTH_API)
        assert status == expected
        check("authorization", template, "PUT", status, payload)
    status, payload, _ = emulator.arm_request("GET", path, api_version=AUTH_API)
    check("authorization", template, "GET", status, payload)
    status, payload, _ = emulator.arm_request(
        "GET",
        f"{scope}/providers/Microsoft.Authorization/roleAssignments",
        api_version=AUTH_API,
        query={"$filter": "atScope()"},
    )
    check(
        "authorization",
        "/{scope}/providers/Microsoft.Authorization/roleAssignments",
        "GET",
        status,
        payload,
    )
    assert name in [a["name"] for a in payload["value"]]
    status, payload, _ = emulator.arm_request(
        "PUT", path.replace(name, str(uuid.uuid4())), body=body, api_version=AUTH_API
    )
    assert status == 409
    check("authorization", template, "PUT", status, payload)
    status, payload, _ = emulator.arm_request("DELETE", path, api_version=AUTH_API)
    check("authorization", template, "DELETE", status, payload)
    status, payload, _ = emulator.arm_request("DELETE", path, api_version=AUTH_API)
    assert (status, payload) == (204, None)


def test_every_vault_response_key_is_declared(emulator, world):
    """The vault body carries only properties the description knows (no typos)."""
    name = unique_vault_name()
    path = f"{world['vaults']}/{name}"
    _, body, _ = emulator.arm_request("PUT", path, body=_vault_body(emulator))
    assert re.match(r"^https://127\.0\.0\.1:\d+/$", body["properties"]["vaultUri"])
    assert set(body) == {"id", "name", "type", "location", "tags", "systemData", "properties"}
    assert KV_API == "2026-05-15"


@pytest.mark.parametrize(
    "template",
    [
        _SUB + "/providers/Microsoft.KeyVault/managedHSMs",
        _RG + "/providers/Microsoft.KeyVault/managedHSMs",
        _SUB + "/providers/Microsoft.KeyVault/deletedManagedHSMs",
    ],
)
def test_managed_hsm_lists_match_the_description(emulator, world, template):
    path = template.replace("{subscriptionId}", world["sub"]).replace(
        "{resourceGroupName}", world["group"]
    )
    status, body, _ = emulator.arm_request("GET", path)
    assert status == 200
    check("keyvault", template, "GET", status, body)
    assert body["value"] == []
