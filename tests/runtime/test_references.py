"""Key Vault references: parsing and the vault-host check (pure; resolving is on the emulator)."""

from __future__ import annotations

from typing import Any

import pytest
from orgsecrets import (
    ConfigurationError,
    EmulatorSettings,
    KeyVaultReferenceError,
    StoreConfig,
)
from orgsecrets.references import ReferencePolicy, is_reference, parse_reference

PUBLIC = ReferencePolicy(".vault.azure.net", None, allow_loopback=False)


def parse(text: str, policy: ReferencePolicy = PUBLIC) -> Any:
    return parse_reference(text, setting="CONTOSO__DB", source=".env file .env", policy=policy)


@pytest.mark.parametrize(
    ("text", "vault_url", "name", "version"),
    [
        (
            "@Microsoft.KeyVault(SecretUri=https://contoso-kv.vault.azure.net/secrets/db/)",
            "https://contoso-kv.vault.azure.net/",
            "db",
            None,
        ),
        (
            "@Microsoft.KeyVault(SecretUri=https://Contoso-KV.vault.azure.net/secrets/db/"
            "ec96f02080254f109c51a1f14cdb1931)",
            "https://contoso-kv.vault.azure.net/",
            "db",
            "ec96f02080254f109c51a1f14cdb1931",
        ),
        (
            "@Microsoft.KeyVault(VaultName=contoso-kv;SecretName=db-password)",
            "https://contoso-kv.vault.azure.net/",
            "db-password",
            None,
        ),
        (
            " @microsoft.keyvault(vaultname=contoso-kv; secretname=db; secretversion=abc123) ",
            "https://contoso-kv.vault.azure.net/",
            "db",
            "abc123",
        ),
    ],
)
def test_both_forms_parse(text: str, vault_url: str, name: str, version: str | None) -> None:
    assert is_reference(text)
    reference = parse(text)
    assert (reference.vault_url, reference.secret_name, reference.version) == (
        vault_url,
        name,
        version,
    )
    assert reference.where == "CONTOSO__DB in .env file .env"


def test_the_vault_name_form_uses_the_configured_cloud() -> None:
    china = ReferencePolicy.for_config(StoreConfig(azure_cloud="AzureChinaCloud"))
    reference = parse("@Microsoft.KeyVault(VaultName=kv1;SecretName=db)", china)
    assert reference.vault_url == "https://kv1.vault.azure.cn/"
    with pytest.raises(KeyVaultReferenceError):  # a public-cloud vault: not this cloud's
        parse("@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/db/)", china)


MARKER = "sv-reference-marker-3f1c"


@pytest.mark.parametrize(
    "text",
    [
        f"@Microsoft.KeyVault(SecretUri=https://{MARKER}.example.com/secrets/db/)",
        f"@Microsoft.KeyVault(SecretUri=http://kv1.vault.azure.net/secrets/{MARKER}/)",
        "@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net.evil.example/secrets/db/)",
        "@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net@evil.example/secrets/db/)",
        "@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net:8443/secrets/db/)",
        "@Microsoft.KeyVault(SecretUri=https://a.b.vault.azure.net/secrets/db/)",
        "@Microsoft.KeyVault(SecretUri=https://127.0.0.1:8443/secrets/db/)",
        "@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/keys/db/)",
        "@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/db/v1/extra)",
        f"@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/db/?{MARKER})",
        f"@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/{MARKER}_x/)",
        f"@Microsoft.KeyVault(VaultName={MARKER}.evil.example;SecretName=db)",
        "@Microsoft.KeyVault(VaultName=kv1)",
        "@Microsoft.KeyVault(VaultName=kv1;SecretName=db;SecretName=db2)",
        f"@Microsoft.KeyVault(VaultName=kv1;SecretName=db;Extra={MARKER})",
        f"@Microsoft.KeyVault({MARKER})",
        f"@Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/secrets/db/{MARKER}",
        "@Microsoft.KeyVault(VaultName=kv1;SecretName=db;SecretVersion=not-a-version!)",
    ],
)
def test_a_bad_or_foreign_reference_is_refused_naming_the_setting_only(text: str) -> None:
    with pytest.raises(KeyVaultReferenceError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert error.setting == "CONTOSO__DB" and error.source == ".env file .env"
    assert "CONTOSO__DB in .env file .env" in str(error)
    for shown in (str(error), repr(error), *map(str, error.args)):
        assert MARKER not in shown
        assert "evil" not in shown
    assert error.__cause__ is None and error.__context__ is None


def test_the_configured_vault_and_the_emulator_are_allowed() -> None:
    policy = ReferencePolicy.for_config(
        StoreConfig(
            vault_url="https://127.0.0.1:8443/", emulator=EmulatorSettings(ca_path="ca.pem")
        )
    )
    reference = parse("@Microsoft.KeyVault(SecretUri=https://127.0.0.1:8443/secrets/db/)", policy)
    assert reference.vault_url == "https://127.0.0.1:8443/"
    own = ReferencePolicy.for_config(StoreConfig(vault_url="https://vault.contoso.example/"))
    assert parse(
        "@Microsoft.KeyVault(SecretUri=https://VAULT.contoso.example/secrets/db/)", own
    ).vault_url == ("https://vault.contoso.example/")
    with pytest.raises(KeyVaultReferenceError):  # not the configured vault, no emulator
        parse("@Microsoft.KeyVault(SecretUri=https://127.0.0.1:8443/secrets/db/)", own)


def test_plain_values_are_not_references() -> None:
    assert not is_reference("hunter2")
    assert not is_reference("Microsoft.KeyVault(SecretUri=https://kv1.vault.azure.net/)")
