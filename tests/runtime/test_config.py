"""Typed configuration: defaults, validation, the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from orgsecrets import CacheConfig, ConfigurationError, EmulatorSettings, LocalFallback, StoreConfig
from orgsecrets.config import is_loopback_url


def test_defaults() -> None:
    cache = CacheConfig()
    assert cache.ttl_s == 3600.0 and cache.negative_ttl_s > 0 and cache.refresh_ahead_s == 0
    config = StoreConfig()
    assert config.vault_url is None and config.local_fallback is LocalFallback.WHEN_NO_VAULT
    assert config.retry_total == 5 and config.retry_backoff_factor_s == 0.8
    assert config.retry_backoff_max_s == 120.0


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        CacheConfig().ttl_s = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl_s": -1},
        {"ttl_s": float("nan")},
        {"ttl_jitter_ratio": 1.0},
        {"max_entries": 0},
        {"refresh_ahead_s": 4000},
        {"error_backoff_initial_s": 10, "error_backoff_max_s": 1},
        {"prefetch_concurrency": 0},
    ],
)
def test_bad_cache_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        CacheConfig(**kwargs)  # type: ignore[arg-type]


def test_vault_url_rules() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        StoreConfig(vault_url="http://kv.vault.azure.net/")
    with pytest.raises(ConfigurationError, match="path"):
        StoreConfig(vault_url="https://kv.vault.azure.net/sub/")
    with pytest.raises(ConfigurationError, match="no vault configured"):
        StoreConfig(local_fallback=LocalFallback.NEVER)


def test_emulator_settings_are_refused_for_real_azure() -> None:
    with pytest.raises(ConfigurationError, match="real Azure"):
        StoreConfig(vault_url="https://kv.vault.azure.net/", emulator=EmulatorSettings(ca_path="x"))
    config = StoreConfig(
        vault_url="https://emulator.internal:8443/", emulator=EmulatorSettings(ca_path="x")
    )
    assert config.uses_emulator


def test_loopback_detection() -> None:
    assert is_loopback_url("https://127.0.0.1:1234/")
    assert is_loopback_url("https://localhost:1234/")
    assert is_loopback_url("https://[::1]:1234/")
    assert not is_loopback_url("https://kv.vault.azure.net/")
    assert not is_loopback_url("https://localhost.evil.example/")


def test_from_env() -> None:
    env = {
        "AZURE_KEY_VAULT_URL": "https://127.0.0.1:4443/",
        "KEYVAULT_EMULATOR_CA": "/tmp/ca.pem",
        "ORGSECRETS_TTL_S": "60",
        "ORGSECRETS_MAX_STALE_S": "120",
        "ORGSECRETS_LOCAL_FALLBACK": "when-unreachable",
        "ORGSECRETS_DOTENV": "",
        "ORGSECRETS_LOCAL_SETTINGS": "cfg/local.settings.json",
    }
    config = StoreConfig.from_env(env)
    assert config.vault_url == "https://127.0.0.1:4443/"
    assert config.emulator == EmulatorSettings(ca_path="/tmp/ca.pem")
    assert config.cache.ttl_s == 60 and config.cache.max_stale_s == 120
    assert config.local_fallback is LocalFallback.WHEN_UNREACHABLE
    assert config.dotenv_path is None
    assert config.local_settings_path == Path("cfg/local.settings.json")
    assert StoreConfig.from_env(env, retry_total=2).retry_total == 2


def test_from_env_real_azure_never_gets_emulator_settings() -> None:
    env = {"AZURE_KEY_VAULT_URL": "https://kv.vault.azure.net/", "KEYVAULT_EMULATOR_CA": "/x"}
    config = StoreConfig.from_env(env)
    assert config.emulator is None and not config.uses_emulator


def test_from_env_errors_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="ORGSECRETS_TTL_S"):
        StoreConfig.from_env({"ORGSECRETS_TTL_S": "soon"})
    with pytest.raises(ConfigurationError, match="ORGSECRETS_LOCAL_FALLBACK"):
        StoreConfig.from_env({"ORGSECRETS_LOCAL_FALLBACK": "sometimes"})
