"""SecretClient is built once with our retry policy; emulator settings only for the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.pipeline.policies import AsyncRetryPolicy, RetryPolicy
from orgsecrets import ConfigurationError, EmulatorSettings, StoreConfig
from orgsecrets.keyvault import AsyncKeyVaultSource, KeyVaultSource, client_options


class NoCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # pragma: no cover - never called
        raise AssertionError("no call expected")


def test_retry_options() -> None:
    options = client_options(StoreConfig(vault_url="https://kv.vault.azure.net/"), environ={})
    assert options["retry_total"] == 5 and options["retry_status"] == 5
    assert options["retry_backoff_factor"] == 0.8 and options["retry_backoff_max"] == 120
    assert "logging_enable" not in options
    assert "connection_verify" not in options and "verify_challenge_resource" not in options


def test_real_azure_never_gets_emulator_settings() -> None:
    env = {"KEYVAULT_EMULATOR_CA": "/ca.pem", "REQUESTS_CA_BUNDLE": "/ca.pem"}
    options = client_options(StoreConfig(vault_url="https://kv.vault.azure.net/"), environ=env)
    assert "connection_verify" not in options and "verify_challenge_resource" not in options


def test_loopback_gets_emulator_settings_from_env() -> None:
    config = StoreConfig(vault_url="https://127.0.0.1:8443/")
    options = client_options(config, environ={"KEYVAULT_EMULATOR_CA": "/emu.pem"})
    assert options["connection_verify"] == "/emu.pem"
    assert options["verify_challenge_resource"] is False
    options = client_options(config, environ={"REQUESTS_CA_BUNDLE": "/bundle.pem"})
    assert options["connection_verify"] == "/bundle.pem"
    with pytest.raises(ConfigurationError, match="KEYVAULT_EMULATOR_CA"):
        client_options(config, environ={})


def test_explicit_emulator_settings() -> None:
    config = StoreConfig(
        vault_url="https://kv-emulator.internal:8443/", emulator=EmulatorSettings(ca_path="/e.pem")
    )
    assert client_options(config, environ={})["connection_verify"] == "/e.pem"


def _retry_policy(client: Any) -> Any:
    policies = client._client._client._pipeline._impl_policies
    return next(p for p in policies if isinstance(p, RetryPolicy | AsyncRetryPolicy))


def test_built_clients_carry_five_retries() -> None:
    config = StoreConfig(vault_url="https://kv.vault.azure.net/")
    for source_cls in (KeyVaultSource, AsyncKeyVaultSource):
        source = source_cls(config, NoCredential())  # type: ignore[arg-type]
        policy = _retry_policy(source.client)
        assert policy.total_retries == 5 and policy.status_retries == 5
        assert policy.backoff_factor == 0.8 and policy.backoff_max == 120
