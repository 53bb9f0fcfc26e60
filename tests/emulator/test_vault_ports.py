"""A vault's data-plane port belongs to that vault alone, across restarts.

The SDK addresses a vault by its URI, so a port that served one vault and
then another would hand one vault's secrets to the other's callers.
"""

from __future__ import annotations

import socket
from pathlib import Path

from keyvault_emulator.config import EmulatorConfig
from keyvault_emulator.testing import RunningEmulator, VaultHandle

from .arm_support import create_vault, new_group, vault_parameters


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port(uri: str) -> int:
    return int(uri.rstrip("/").rsplit(":", 1)[1])


def _officer(emulator: RunningEmulator, vault) -> None:
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)


def _names(emulator: RunningEmulator, uri: str) -> set[str]:
    client = emulator.secret_client(uri, "sync")
    return {p.name for p in client.list_properties_of_secrets()}


def _delete_after_one_secret(state: Path, config: EmulatorConfig) -> tuple[str, str]:
    """First run: a vault with one secret, soft-deleted; returns (group, its URI)."""
    first = RunningEmulator(config, state_dir=state, persist=True)
    try:
        group = new_group(first)
        vault = create_vault(first, group, "kv-deleted-a")
        _officer(first, vault)
        first.secret_client(vault.properties.vault_uri, "sync").set_secret("only-in-a", "a")
        first.keyvault_mgmt_client().vaults.delete(group, "kv-deleted-a")
        return group, vault.properties.vault_uri
    finally:
        first.stop()


def _recover(emulator: RunningEmulator, group: str, name: str):
    vaults = emulator.keyvault_mgmt_client().vaults
    return vaults.begin_create_or_update(
        group, name, vault_parameters(emulator, createMode="recover")
    ).result()


def test_a_recovered_vault_never_takes_a_port_that_now_serves_something_else(tmp_path):
    group, old_uri = _delete_after_one_secret(tmp_path, EmulatorConfig())
    # The restarted emulator's main port (ARM, tokens) is the deleted vault's old port.
    second = RunningEmulator(EmulatorConfig(port=_port(old_uri)), state_dir=tmp_path, persist=True)
    try:
        assert _port(second.arm_url) == _port(old_uri)
        recovered = _recover(second, group, "kv-deleted-a")
        uri = recovered.properties.vault_uri
        assert _port(uri) != _port(second.arm_url)
        _officer(second, recovered)
        assert _names(second, uri) == {"only-in-a"}
    finally:
        second.stop()


def test_a_new_vault_does_not_get_the_port_a_soft_deleted_vault_still_owns(tmp_path):
    base = _free_port()
    config = EmulatorConfig(vault_port_base=base)
    group, old_uri = _delete_after_one_secret(tmp_path, config)
    second = RunningEmulator(config, state_dir=tmp_path, persist=True)
    try:
        newcomer = create_vault(second, group, "kv-new-b")
        _officer(second, newcomer)
        second.secret_client(newcomer.properties.vault_uri, "sync").set_secret("only-in-b", "b")
        assert _port(newcomer.properties.vault_uri) != _port(old_uri)
        recovered = _recover(second, group, "kv-deleted-a")
        assert recovered.properties.vault_uri == old_uri  # its port was kept for it
        _officer(second, recovered)
        assert _names(second, old_uri) == {"only-in-a"}
        assert _names(second, newcomer.properties.vault_uri) == {"only-in-b"}
        assert second.info()["vaults"]["kv-deleted-a"]["uri"] == old_uri
    finally:
        second.stop()


def test_new_vaults_take_ports_from_vault_port_base(tmp_path):
    base = _free_port()
    emulator = RunningEmulator(EmulatorConfig(vault_port_base=base), state_dir=tmp_path)
    try:
        ports = [_port(emulator.create_vault().uri) for _ in range(3)]
        # The next free ports from the base, in order (one may be busy elsewhere).
        assert ports == sorted(ports)
        assert len(set(ports)) == 3
        assert base <= ports[0] and ports[-1] < base + 20
        assert _port(emulator.arm_url) not in ports
    finally:
        emulator.stop()


def test_without_a_base_each_vault_gets_an_ephemeral_port(emulator):
    first: VaultHandle = emulator.create_vault()
    second: VaultHandle = emulator.create_vault()
    assert _port(first.uri) != _port(second.uri)
    assert _port(first.uri) > 0
