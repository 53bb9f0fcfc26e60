"""Access policies (RBAC off) match the whole identity: tenant, object and application."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import KV_API, create_vault, new_group, vault_parameters


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-policies")


def _policy_vault(emulator: RunningEmulator, group: str, *policies: dict):
    vault = create_vault(
        emulator,
        group,
        enableRbacAuthorization=False,
        accessPolicies=[
            {
                "tenantId": emulator.tenant_id,
                "objectId": emulator.object_id("sync"),
                "permissions": {"secrets": ["all"]},
            },
            *policies,
        ],
    )
    emulator.secret_client(vault.properties.vault_uri, "sync").set_secret("s", "v")
    return vault


def _policy(emulator: RunningEmulator, identity: str, **fields: str) -> dict:
    return {
        "tenantId": emulator.tenant_id,
        "objectId": emulator.object_id(identity),
        "permissions": {"secrets": ["get"]},
        **fields,
    }


def _access_denied(call) -> None:
    with pytest.raises(HttpResponseError) as denied:
        call()
    assert denied.value.status_code == 403
    assert denied.value.error.innererror["code"] == "AccessDenied"


def test_plain_policy_grants_its_object(emulator, group):
    vault = _policy_vault(emulator, group, _policy(emulator, "app"))
    assert emulator.secret_client(vault.properties.vault_uri, "app").get_secret("s").value == "v"


def test_compound_policy_needs_the_named_application(emulator, group):
    app_client_id = emulator.world.identity("app").client_id
    other_application = str(uuid.uuid4())
    vault = _policy_vault(
        emulator, group, _policy(emulator, "app", applicationId=other_application)
    )
    client = emulator.secret_client(vault.properties.vault_uri, "app")
    _access_denied(lambda: client.get_secret("s"))
    allowed = _policy_vault(emulator, group, _policy(emulator, "app", applicationId=app_client_id))
    assert emulator.secret_client(allowed.properties.vault_uri, "app").get_secret("s").value == "v"


def test_policy_for_another_tenant_grants_nothing(emulator, group):
    vault = _policy_vault(emulator, group, _policy(emulator, "app", tenantId=str(uuid.uuid4())))
    _access_denied(
        lambda: emulator.secret_client(vault.properties.vault_uri, "app").get_secret("s")
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("objectId", "x"),
        ("objectId", ""),
        ("tenantId", "not-a-tenant"),
        ("applicationId", "app"),
        ("applicationId", 7),
    ],
)
def test_policy_identities_must_be_guids(emulator, group, field, value):
    name = unique_vault_name()
    path = (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.KeyVault/vaults/{name}"
    )
    policy = _policy(emulator, "app")
    policy[field] = value
    body = vault_parameters(emulator, enableRbacAuthorization=False, accessPolicies=[policy])
    status, payload, _ = emulator.arm_request("PUT", path, body=body, api_version=KV_API)
    assert status == 400, payload
    assert payload["error"]["code"] == "BadRequest"
    assert field in payload["error"]["message"]


def test_access_policy_update_validates_guids_too(emulator, group):
    vault = _policy_vault(emulator, group)
    client = emulator.keyvault_mgmt_client()
    with pytest.raises(HttpResponseError) as refused:
        client.vaults.update_access_policy(
            group,
            vault.name,
            "add",
            {
                "properties": {
                    "accessPolicies": [
                        {
                            "tenantId": emulator.tenant_id,
                            "objectId": "x",
                            "permissions": {"secrets": ["get"]},
                        }
                    ]
                }
            },
        )
    assert refused.value.status_code == 400
