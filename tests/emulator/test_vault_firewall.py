"""publicNetworkAccess and networkAcls: validated by Resource Manager, enforced by the vault.

Every client of the emulator connects from 127.0.0.1, so that is the address
the firewall judges.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import KV_API, create_vault, error_code, new_group, vault_parameters


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-firewall")


def _open_vault(emulator: RunningEmulator, group: str, **properties):
    vault = create_vault(emulator, group, **properties)
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)
    return vault


def _denied(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as denied:
        call()
    assert denied.value.status_code == 403, denied.value
    return denied.value


def _update(emulator: RunningEmulator, group: str, name: str, properties: dict) -> None:
    emulator.keyvault_mgmt_client().vaults.update(group, name, {"properties": properties})


def test_public_network_access_disabled_refuses_every_caller(emulator, group):
    vault = _open_vault(emulator, group)
    client = emulator.secret_client(vault.properties.vault_uri, "sync")
    client.set_secret("before", "v")
    _update(emulator, group, vault.name, {"publicNetworkAccess": "Disabled"})
    error = _denied(lambda: client.get_secret("before"))
    assert error.error.code == "Forbidden"
    assert error.error.innererror["code"] == "ForbiddenByConnection"
    caller = emulator.object_id("sync")
    assert error.error.message.startswith(
        "Public network access is disabled and request is not from a trusted service nor via "
        "an approved private link.\r\nCaller: appid="
    )
    assert f"oid={caller};" in error.error.message
    assert error.error.message.endswith(f"\r\nVault: {vault.name};location=westeurope")
    # Even an IP rule that covers the caller does not reopen a disabled endpoint.
    _update(
        emulator,
        group,
        vault.name,
        {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "127.0.0.1"}]}},
    )
    _denied(lambda: client.get_secret("before"))
    _update(emulator, group, vault.name, {"publicNetworkAccess": "Enabled"})
    assert client.get_secret("before").value == "v"


def test_default_deny_without_a_matching_ip_rule_refuses(emulator, group):
    vault = _open_vault(
        emulator,
        group,
        networkAcls={
            "defaultAction": "Deny",
            "bypass": "None",
            "ipRules": [{"value": "203.0.113.0/24"}],
        },
    )
    client = emulator.secret_client(vault.properties.vault_uri, "sync")
    error = _denied(lambda: client.set_secret("blocked", "v"))
    assert error.error.code == "Forbidden"
    assert error.error.innererror["code"] == "ForbiddenByFirewall"
    caller = emulator.object_id("sync")
    message = error.error.message
    assert message.startswith(
        "Client address is not authorized and caller is not a trusted service.\r\n"
        "Client address: 127.0.0.1\r\nCaller: appid="
    )
    assert f"oid={caller};" in message
    assert message.endswith(f"\r\nVault: {vault.name};location=westeurope")
    # The firewall answers before authorization: even a caller without any role
    # learns only that its address is refused.
    outsider = emulator.secret_client(vault.properties.vault_uri, "outsider")
    assert _denied(lambda: outsider.get_secret("x")).error.innererror["code"] == (
        "ForbiddenByFirewall"
    )
    denials = [
        r
        for r in emulator.audit(vault=vault.name, plane="data")
        if r.status == 403 and r.operation == "SecretSet"
    ]
    assert denials and denials[-1].principal == caller


@pytest.mark.parametrize("rule", ["127.0.0.1", "127.0.0.1/32", "127.0.0.0/8", "0.0.0.0/0"])
def test_an_ip_rule_covering_the_loopback_address_lets_callers_in(emulator, group, rule):
    vault = _open_vault(
        emulator, group, networkAcls={"defaultAction": "Deny", "ipRules": [{"value": rule}]}
    )
    client = emulator.secret_client(vault.properties.vault_uri, "sync")
    client.set_secret("through", "v")
    assert client.get_secret("through").value == "v"


def test_default_allow_ignores_ip_rules(emulator, group):
    vault = _open_vault(
        emulator,
        group,
        networkAcls={"defaultAction": "Allow", "ipRules": [{"value": "198.51.100.7"}]},
    )
    client = emulator.secret_client(vault.properties.vault_uri, "sync")
    client.set_secret("open", "v")


def test_unauthenticated_requests_still_get_the_401_challenge(emulator, group):
    # Azure authenticates before it applies the firewall (the 403 names the caller),
    # so the SDK's unauthenticated first request still gets its challenge.
    import requests

    vault = _open_vault(emulator, group, publicNetworkAccess="Disabled")
    response = requests.get(
        f"{vault.properties.vault_uri}secrets/x",
        params={"api-version": "7.5"},
        verify=emulator.ca_path,
        timeout=30,
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


# -- what Resource Manager accepts ---------------------------------------------------------
@pytest.mark.parametrize(
    "properties",
    [
        {"publicNetworkAccess": "Sometimes"},
        {"networkAcls": {"defaultAction": "Block"}},
        {"networkAcls": {"bypass": "Everything"}},
        {"networkAcls": {"ipRules": [{"value": "300.1.2.3"}]}},
        {"networkAcls": {"ipRules": [{"value": "1.2.3.4/33"}]}},
        {"networkAcls": {"ipRules": [{"value": "::1"}]}},
        {"networkAcls": {"ipRules": [{"value": "10.1.0.0/16"}]}},  # private ranges are refused
        {"networkAcls": {"ipRules": [{"value": "192.168.1.10"}]}},
        {"networkAcls": {"ipRules": ["1.2.3.4"]}},
        {"networkAcls": {"ipRules": [{}]}},
        {"networkAcls": {"ipRules": {"value": "1.2.3.4"}}},
        {"networkAcls": {"virtualNetworkRules": [{"id": "not-a-subnet"}]}},
        {"networkAcls": {"virtualNetworkRules": [{}]}},
        {"networkAcls": {"defaultAction": 1}},
    ],
)
def test_invalid_network_settings_are_refused(emulator, group, properties):
    name = unique_vault_name()
    path = (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.KeyVault/vaults/{name}"
    )
    status, body, _ = emulator.arm_request(
        "PUT", path, body=vault_parameters(emulator, **properties), api_version=KV_API
    )
    assert status == 400, body
    assert body["error"]["code"] == "BadRequest"
    assert body["error"]["message"]
    status, _, _ = emulator.arm_request("GET", path, api_version=KV_API)
    assert status == 404  # nothing was written


def test_valid_network_settings_round_trip(emulator, group):
    subnet = (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}/providers/"
        "Microsoft.Network/virtualNetworks/vnet/subnets/apps"
    )
    vault = create_vault(
        emulator,
        group,
        publicNetworkAccess="enabled",
        networkAcls={
            "defaultAction": "Allow",
            "bypass": "AzureServices",
            "ipRules": [{"value": "1.2.3.4"}, {"value": "203.0.113.0/24"}],
            "virtualNetworkRules": [{"id": subnet}],
        },
    )
    acls = vault.properties.network_acls
    assert [r.value for r in acls.ip_rules] == ["1.2.3.4", "203.0.113.0/24"]
    assert [r.id for r in acls.virtual_network_rules] == [subnet]
    with pytest.raises(HttpResponseError) as refused:
        emulator.keyvault_mgmt_client().vaults.update(
            group, vault.name, {"properties": {"networkAcls": {"defaultAction": "Nope"}}}
        )
    assert refused.value.status_code == 400
    assert error_code(refused.value) == "BadRequest"
