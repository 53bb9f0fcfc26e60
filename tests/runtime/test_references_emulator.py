"""Key Vault references in local settings, resolved through the real SecretClient on the emulator.

The store has no vault of its own here (local development): a setting in
the environment, ``.env`` or ``local.settings.json`` holding
``@Microsoft.KeyVault(...)`` is read from the vault it names, as the ``app``
identity, and cached like any read. One that cannot be resolved is an error
naming the setting, never a value.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    EmulatorSettings,
    PermissionDeniedError,
    SecretName,
    SecretStore,
    StoreConfig,
    VaultRequestError,
    VaultUnreachableError,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def local_config(emulator: Any, tmp_path: Any, **overrides: Any) -> StoreConfig:
    base: dict[str, Any] = {
        "emulator": EmulatorSettings(ca_path=emulator.ca_path),
        "dotenv_path": tmp_path / ".env",
        "local_settings_path": tmp_path / "local.settings.json",
        "retry_backoff_factor_s": 0.01,
    }
    base.update(overrides)
    return StoreConfig(**base)


def reference(vault: Any, name: str, version: str = "") -> str:
    return f"@Microsoft.KeyVault(SecretUri={vault.uri}secrets/{name}/{version})"


def gets(emulator: Any, vault: Any) -> int:
    records = emulator.audit(vault=vault.name, operation="SecretGet")
    return len([r for r in records if r.identity])


def test_a_reference_in_each_local_source_reads_the_vault_and_is_cached(
    emulator: Any,
    vault: Any,
    tmp_path: Any,
    monkeypatch: Any,
    secret_value: Any,
) -> None:
    sync = emulator.secret_client(vault, "sync")
    env_v, dotenv_v, json_v = secret_value("env"), secret_value("dotenv"), secret_value("json")
    sync.set_secret("app-db", env_v)
    old_v = secret_value("old-version")
    old = sync.set_secret("app-api", old_v)
    sync.set_secret("app-api", dotenv_v)
    sync.set_secret("app-smtp", json_v)
    monkeypatch.setenv("CONTOSO__DB_PASSWORD", reference(vault, "app-db"))
    (tmp_path / ".env").write_text(
        f'GLOBAL__API_KEY="{reference(vault, "app-api")}"\n', encoding="utf-8"
    )
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"GLOBAL__SMTP": reference(vault, "app-smtp")}}), encoding="utf-8"
    )
    with SecretStore(
        local_config(emulator, tmp_path), credential=emulator.credential("app")
    ) as store:
        assert store.get("db-password", org="contoso") == env_v
        assert store.get("api-key", org="contoso") == dotenv_v
        assert store.get("smtp") == json_v
        before = gets(emulator, vault)
        for _ in range(3):  # cached like any read
            store.get("db-password", org="contoso")
            store.get("api-key")
        assert gets(emulator, vault) == before
        # A pinned version reads that version.
        monkeypatch.setenv("GLOBAL__PINNED", reference(vault, "app-api", old.properties.version))
        assert store.get("pinned") == old_v
        entry = store._cache.peek(SecretName("GLOBAL", "pinned"))
        assert entry is not None
        assert (
            entry.source
            == f"Key Vault {vault.uri} (reference in GLOBAL__PINNED in environment variables)"
        )
    sync.close()


def test_an_unresolvable_reference_names_the_setting_never_a_value(
    emulator: Any,
    vault: Any,
    tmp_path: Any,
    monkeypatch: Any,
    secret_value: Any,
    assert_no_leak: Any,
) -> None:
    marker = secret_value("unrelated")
    monkeypatch.setenv("GLOBAL__UNRELATED", marker)
    # Not found.
    monkeypatch.setenv("CONTOSO__MISSING", reference(vault, "no-such-secret"))
    # Denied: a vault where the app has no role.
    other = emulator.create_vault()
    monkeypatch.setenv("CONTOSO__DENIED", reference(other, "anything"))
    # Unreachable: a loopback port nobody listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "CONTOSO__DOWN", f"@Microsoft.KeyVault(SecretUri=https://127.0.0.1:{port}/secrets/x/)"
    )
    config = local_config(emulator, tmp_path, retry_total=0)
    with SecretStore(config, credential=emulator.credential("app")) as store:
        assert store.get("unrelated") == marker
        for name, kind in (
            ("missing", VaultRequestError),
            ("denied", PermissionDeniedError),
            ("down", VaultUnreachableError),
        ):
            with pytest.raises(kind) as caught:
                store.get(name, org="contoso")
            assert f"CONTOSO__{name.upper()} in environment variables" in str(caught.value)
            assert_no_leak(caught.value)
            # Never returned as the secret, and never falls through to GLOBAL.
            with pytest.raises(kind):
                store.get(name, org="contoso")


def test_the_async_store_resolves_references_too(
    emulator: Any, vault: Any, tmp_path: Any, monkeypatch: Any, secret_value: Any
) -> None:
    value = secret_value("async")
    sync = emulator.secret_client(vault, "sync")
    sync.set_secret("app-async", value)
    sync.close()
    monkeypatch.setenv("GLOBAL__ASYNC_REF", reference(vault, "app-async"))

    async def scenario() -> None:
        credential = emulator.async_credential("app")
        async with (
            credential,
            AsyncSecretStore(local_config(emulator, tmp_path), credential=credential) as store,
        ):
            assert await store.get("async-ref", org="contoso") == value

    asyncio.run(scenario())
