"""The target seam: discovery parsing and client options (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.target.target import (
    ARM_SCOPE,
    EmulatorDiscovery,
    Target,
    TenantPinnedCredential,
)


def write_discovery(state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "emulator.json").write_text(
        json.dumps(
            {
                "arm_url": "https://127.0.0.1:4443/",
                "identity_endpoint": "https://127.0.0.1:4443/msi/token",
                "ca_path": "ca.pem",
                "tenant_id": "t",
                "subscription_id": "s",
                "identities": {
                    "deployer": {"object_id": "o1", "client_id": "c1", "header": "h-secret"}
                },
            }
        )
    )


def test_missing_discovery_file_says_how_to_start_the_emulator(tmp_path: Path) -> None:
    with pytest.raises(ActionableError) as info:
        EmulatorDiscovery.read(tmp_path)
    assert "make emulator" in str(info.value)


def test_discovery_resolves_relative_ca_and_hides_headers(tmp_path: Path) -> None:
    write_discovery(tmp_path)
    found = EmulatorDiscovery.read(tmp_path)
    assert found.arm_url == "https://127.0.0.1:4443"
    assert found.ca_path == str(tmp_path / "ca.pem")
    assert "h-secret" not in repr(found)
    with pytest.raises(ActionableError, match="known identities: deployer"):
        found.identity("nobody")


def test_emulator_clients_get_base_url_scopes_ca_and_retries(tmp_path: Path) -> None:
    write_discovery(tmp_path)
    target = Target.emulator(tmp_path)
    assert target.subscription_id == "s"
    options = target._management_kwargs()
    assert options["base_url"] == "https://127.0.0.1:4443"
    assert options["credential_scopes"] == [ARM_SCOPE]
    assert options["connection_verify"] == str(tmp_path / "ca.pem")
    assert options["retry_total"] == 5 and options["retry_status"] == 5
    assert options["retry_backoff_factor"] == 0.8 and options["retry_backoff_max"] == 120
    assert "logging_enable" not in options
    client = target.keyvault_management()
    assert client._config.subscription_id == "s"
    client.close()


def test_azure_target_uses_public_endpoints() -> None:
    target = Target.azure("sub")
    assert target.vault_url("kv-demo") == "https://kv-demo.vault.azure.net/"
    options = target._management_kwargs()
    assert "base_url" not in options and "connection_verify" not in options
    assert target.principal_object_id() is None


def test_emulator_target_needs_state_dir() -> None:
    with pytest.raises(ValueError):
        Target("emulator", "s")


class _RecordingCredential:
    """Stands in for DefaultAzureCredential to see which tenant is asked for."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def get_token(self, *scopes: str, tenant_id: str | None = None, **kwargs: object):
        self.asked.append(tenant_id)
        return AccessToken("t", 0)

    def get_token_info(self, *scopes: str, options: dict | None = None):
        self.asked.append((options or {}).get("tenant_id"))
        return AccessTokenInfo("t", 0)


def test_azure_tokens_are_asked_of_the_environment_tenant() -> None:
    inner = _RecordingCredential()
    pinned = TenantPinnedCredential(inner, "tenant-a")
    pinned.get_token(ARM_SCOPE)  # ARM names no tenant
    pinned.get_token_info(ARM_SCOPE)
    pinned.get_token("https://vault.azure.net/.default", tenant_id="tenant-b")  # a challenge does
    pinned.get_token_info("https://vault.azure.net/.default", options={"tenant_id": "tenant-b"})
    assert inner.asked == ["tenant-a", "tenant-a", "tenant-b", "tenant-b"]


def test_azure_target_pins_its_tenant_only_when_set() -> None:
    assert isinstance(
        Target.azure("sub", tenant_id="tenant-a").credential(), TenantPinnedCredential
    )
    assert not isinstance(Target.azure("sub").credential(), TenantPinnedCredential)
