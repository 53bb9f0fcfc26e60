"""A new vault registers its DNS name first (``vault_dns_registration_s``).

Resource Manager answers a new vault's PUT with 200 ``RegisteringDns`` and
the vault is ``Succeeded`` later; the SDK's poller polls the vault's GET
until then. The default (0) keeps the one-request 201 ``Succeeded``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keyvault_emulator.config import EmulatorConfig, load_config
from keyvault_emulator.keyvault.models import Vault
from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import KV_API, new_group, vault_parameters


def _registering(delay_s: float) -> Iterator[RunningEmulator]:
    running = RunningEmulator(EmulatorConfig().with_changes(vault_dns_registration_s=delay_s))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def slow_dns() -> Iterator[RunningEmulator]:
    """Registration that outlasts any test: every read sees RegisteringDns."""
    yield from _registering(3600)


@pytest.fixture
def brief_dns() -> Iterator[RunningEmulator]:
    yield from _registering(0.3)


def _path(emulator: RunningEmulator, group: str, name: str) -> str:
    return (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.KeyVault/vaults/{name}"
    )


def test_a_new_vault_answers_200_registering_dns_until_registered(slow_dns):
    group = new_group(slow_dns)
    path = _path(slow_dns, group, unique_vault_name())
    status, created, headers = slow_dns.arm_request(
        "PUT", path, body=vault_parameters(slow_dns), api_version=KV_API
    )
    assert status == 200
    assert created["properties"]["provisioningState"] == "RegisteringDns"
    assert "Location" not in headers and "Azure-AsyncOperation" not in headers
    status, read, _ = slow_dns.arm_request("GET", path, api_version=KV_API)
    assert (status, read["properties"]["provisioningState"]) == (200, "RegisteringDns")
    status, again, _ = slow_dns.arm_request(
        "PUT", path, body=vault_parameters(slow_dns), api_version=KV_API
    )
    assert (status, again["properties"]["provisioningState"]) == (200, "RegisteringDns")


def test_the_sdk_poller_waits_for_the_vault_to_succeed(brief_dns):
    group = new_group(brief_dns)
    name = unique_vault_name()
    poller = brief_dns.keyvault_mgmt_client().vaults.begin_create_or_update(
        group, name, vault_parameters(brief_dns), polling_interval=0.05
    )
    vault = poller.result()
    assert vault.properties.provisioning_state == "Succeeded"
    operations = [r.operation for r in brief_dns.audit(plane="arm", vault=name)]
    assert operations[0] == "VaultPut"
    assert "VaultGet" in operations  # the poller polled until Succeeded
    listed = brief_dns.keyvault_mgmt_client().vaults.list_by_resource_group(group)
    assert [v.properties.provisioning_state for v in listed] == ["Succeeded"]


def test_by_default_a_new_vault_is_succeeded_in_one_request(emulator):
    group = new_group(emulator)
    path = _path(emulator, group, unique_vault_name())
    status, created, _ = emulator.arm_request(
        "PUT", path, body=vault_parameters(emulator), api_version=KV_API
    )
    assert (status, created["properties"]["provisioningState"]) == (201, "Succeeded")


def test_registration_finishes_at_its_time_and_survives_a_record_round_trip():
    vault = Vault(
        name="kv-dns",
        subscription_id="s",
        resource_group="rg",
        location="westeurope",
        properties={"provisioningState": "RegisteringDns"},
        dns_registered_at=100.0,
    )
    vault = Vault.from_record(vault.to_record())
    assert vault.finish_provisioning(99.9) is False
    assert vault.properties["provisioningState"] == "RegisteringDns"
    assert vault.finish_provisioning(100.0) is True
    assert vault.properties["provisioningState"] == "Succeeded"
    assert vault.finish_provisioning(200.0) is False  # once


def test_the_registration_time_is_read_from_the_configuration_file(tmp_path):
    path = tmp_path / "emulator.yaml"
    path.write_text("vault_dns_registration_s: 2.5\n", encoding="utf-8")
    assert load_config(path).vault_dns_registration_s == 2.5
    assert EmulatorConfig().vault_dns_registration_s == 0
