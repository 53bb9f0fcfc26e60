"""The target seam: discovery parsing and client options (no network)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.target.azure import AzureTarget
from keyvault_platform.target.base import ReadAs
from keyvault_platform.target.clouds import AZURE_CHINA_CLOUD, AZURE_PUBLIC_CLOUD
from keyvault_platform.target.credentials import TenantPinnedCredential
from keyvault_platform.target.emulator import EmulatorTarget

from keyvault_emulator.discovery import Discovery, EmulatorIdentity

ARM_SCOPE = AZURE_PUBLIC_CLOUD.arm_scope


def published(ca_path: str = "ca.pem") -> Discovery:
    return Discovery(
        pid=os.getpid(),
        arm_url="https://127.0.0.1:4443",
        identity_endpoint="https://127.0.0.1:4443/msi/token",
        ca_path=ca_path,
        tenant_id="t",
        subscription_id="s",
        subscriptions=("s",),
        admin_key="admin-secret",
        identities={
            "deployer": EmulatorIdentity("deployer", "O1", "c1", "ServicePrincipal", "h-secret")
        },
    )


def write_discovery(state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    published().write(state)


def test_missing_discovery_file_says_how_to_start_the_emulator(tmp_path: Path) -> None:
    with pytest.raises(ActionableError) as info:
        EmulatorTarget.from_discovery(tmp_path)
    assert str(info.value).startswith(
        f"the emulator is not running: {tmp_path / 'emulator.json'} does not exist"
    )
    assert "make emulator" in str(info.value)


def test_an_unreadable_discovery_file_says_which_and_why(tmp_path: Path) -> None:
    (tmp_path / "emulator.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ActionableError, match="cannot read the emulator discovery file"):
        EmulatorTarget.from_discovery(tmp_path)
    (tmp_path / "emulator.json").write_text(json.dumps({"arm_url": "x"}), encoding="utf-8")
    with pytest.raises(ActionableError, match="lacks 'ca_path'; is the emulator up to date"):
        EmulatorTarget.from_discovery(tmp_path)


def test_discovery_round_trips_privately_and_hides_credentials(tmp_path: Path) -> None:
    path = published().write(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = Discovery.read(tmp_path)
    assert found.ca_path == str(tmp_path / "ca.pem")  # relative: from the state directory
    assert found.to_json() == published(str(tmp_path / "ca.pem")).to_json()
    assert "h-secret" not in repr(found) and "admin-secret" not in repr(found)


def test_an_unknown_emulator_identity_lists_the_known_ones(tmp_path: Path) -> None:
    write_discovery(tmp_path)
    target = EmulatorTarget.from_discovery(tmp_path)
    with pytest.raises(ActionableError, match="no identity named 'nobody'") as info:
        target.credential("nobody")
    assert info.value.hint == "known identities: deployer"


def test_emulator_clients_get_base_url_scopes_ca_and_retries(tmp_path: Path) -> None:
    write_discovery(tmp_path)
    target = EmulatorTarget.from_discovery(tmp_path)
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
    target.close()


def test_emulator_target_acts_as_published_identities_only(tmp_path: Path) -> None:
    write_discovery(tmp_path)
    target = EmulatorTarget.from_discovery(tmp_path)
    assert target.identity_for_principal("o1") == ReadAs("deployer")  # object ids ignore case
    assert target.identity_for_principal("someone-else") is None
    assert target.allows_development_fingerprint_key


def test_azure_target_uses_its_clouds_endpoints() -> None:
    public = AzureTarget.public("sub")
    assert public.vault_url("kv-demo") == "https://kv-demo.vault.azure.net/"
    options = public._management_kwargs()
    assert options["base_url"] == "https://management.azure.com"
    assert options["credential_scopes"] == [ARM_SCOPE]
    assert "connection_verify" not in options and "logging_enable" not in options
    assert not public.allows_development_fingerprint_key

    china = AzureTarget(AZURE_CHINA_CLOUD, "sub", "tenant-a")
    assert china.vault_url("kv-demo") == "https://kv-demo.vault.azure.cn/"
    options = china._management_kwargs()
    assert options["base_url"] == "https://management.chinacloudapi.cn"
    assert options["credential_scopes"] == ["https://management.chinacloudapi.cn/.default"]
    assert "AzureChinaCloud" in china.describe()


class _RecordingCredential:
    """Stands in for DefaultAzureCredential to see which tenant is asked for."""

    def __init__(self, token: str = "t") -> None:
        self.asked: list[str | None] = []
        self.scopes: list[str] = []
        self.token = token

    def get_token(self, *scopes: str, tenant_id: str | None = None, **kwargs: object):
        self.asked.append(tenant_id)
        self.scopes.extend(scopes)
        return AccessToken(self.token, 0)

    def get_token_info(self, *scopes: str, options: dict | None = None):
        self.asked.append((options or {}).get("tenant_id"))
        return AccessTokenInfo(self.token, 0)

    def close(self) -> None:
        pass


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
        AzureTarget.public("sub", tenant_id="tenant-a").credential(), TenantPinnedCredential
    )
    assert not isinstance(AzureTarget.public("sub").credential(), TenantPinnedCredential)


def _unsigned_token(claims: dict[str, str]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{payload}.signature"


def test_azure_target_acts_only_as_the_signed_in_principal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token's ``oid`` (asked for the cloud's ARM scope) is the one principal it can be."""
    recording = _RecordingCredential(_unsigned_token({"oid": "AAAA-1"}))
    monkeypatch.setattr(AzureTarget, "_default_credential", lambda self: recording)
    target = AzureTarget(AZURE_CHINA_CLOUD, "sub")
    assert target.identity_for_principal("aaaa-1") == ReadAs(None)
    assert target.identity_for_principal("bbbb-2") is None
    assert recording.scopes == [AZURE_CHINA_CLOUD.arm_scope]  # asked once, then remembered


def test_azure_target_without_a_readable_token_acts_as_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unreadable = _RecordingCredential("not-a-jwt")
    monkeypatch.setattr(AzureTarget, "_default_credential", lambda self: unreadable)
    target = AzureTarget.public("sub")
    assert target.identity_for_principal("aaaa-1") is None
