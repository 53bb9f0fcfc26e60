"""Key Vault references in local settings: ``@Microsoft.KeyVault(...)``, as App Service reads them.

App Service and Functions resolve an app setting of one of these forms
through the app's identity, and leave the literal text in place when they
cannot; Functions Core Tools never resolve them. The store resolves them
itself, so such a text is never returned as a secret:

* ``@Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/<name>/[<version>])``
* ``@Microsoft.KeyVault(VaultName=<vault>;SecretName=<name>[;SecretVersion=<version>])``

Without a version the current one is read (and re-read when the cache
entry expires). The vault a reference names is checked before any request,
so that a reference cannot send the app's token elsewhere: ``https`` only,
on a Key Vault host of the configured cloud, or the configured vault, or
(with emulator settings) a loopback host.

This module is pure: parsing and checking, no I/O. Errors name the setting
and its source, never the setting's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import StoreConfig, is_loopback_url
from .errors import KeyVaultReferenceError

__all__ = ["KeyVaultReference", "ReferencePolicy", "is_reference", "parse_reference"]

PREFIX = "@microsoft.keyvault("

_VAULT_NAME = re.compile(r"[a-zA-Z](?:[a-zA-Z0-9]|-(?!-)){1,22}[a-zA-Z0-9]")
"""Key Vault's name rule: 3-24 characters, letters, digits and single hyphens."""
_SECRET_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_VERSION = re.compile(r"[0-9a-zA-Z]{1,64}")


@dataclass(frozen=True, slots=True)
class KeyVaultReference:
    """A parsed reference: which secret (and version) of which vault, named by which setting."""

    vault_url: str
    """``https://<host>[:port]/``, checked against the :class:`ReferencePolicy`."""
    secret_name: str
    version: str | None
    setting: str
    """The local key holding the reference (``CONTOSO__DB_PASSWORD``)."""
    source: str
    """Where that key was found (``.env file .env``)."""

    @property
    def where(self) -> str:
        return f"{self.setting} in {self.source}"


def is_reference(value: str) -> bool:
    """True if ``value`` is meant as a Key Vault reference (App Service's prefix, any case)."""
    return value.lstrip()[: len(PREFIX)].lower() == PREFIX


@dataclass(frozen=True, slots=True)
class ReferencePolicy:
    """Which vaults references may name: the cloud's suffix, the configured vault, loopback."""

    vault_dns_suffix: str
    configured_vault: str | None
    """The configured vault's ``host[:port]``, lower case."""
    allow_loopback: bool

    @classmethod
    def for_config(cls, config: StoreConfig) -> ReferencePolicy:
        configured = urlsplit(config.vault_url).netloc.lower() if config.vault_url else None
        return cls(config.vault_dns_suffix, configured, config.emulator is not None)

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not host:
            return False
        if self.configured_vault is not None and parts.netloc.lower() == self.configured_vault:
            return True
        if self.allow_loopback and is_loopback_url(url):
            return True
        label, dot, rest = host.partition(".")
        return (
            parts.port is None
            and "." + rest == self.vault_dns_suffix
            and dot == "."
            and _VAULT_NAME.fullmatch(label) is not None
        )

    def describe(self) -> str:
        allowed = [f"https://<vault>{self.vault_dns_suffix}/"]
        if self.configured_vault is not None:
            allowed.append(f"the configured vault https://{self.configured_vault}/")
        if self.allow_loopback:
            allowed.append("the local emulator (loopback)")
        return ", ".join(allowed)


def parse_reference(
    value: str, *, setting: str, source: str, policy: ReferencePolicy
) -> KeyVaultReference:
    """The reference in ``value`` (see :func:`is_reference`), checked against ``policy``.

    :raises KeyVaultReferenceError: malformed, or a vault the policy does not allow.
    """

    def problem(what: str) -> KeyVaultReferenceError:
        return KeyVaultReferenceError(
            f"{setting} in {source} is a Key Vault reference that cannot be resolved: {what}. "
            "Expected @Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/"
            "<name>/) or @Microsoft.KeyVault(VaultName=<vault>;SecretName=<name>)",
            setting=setting,
            source=source,
        )

    text = value.strip()
    if not text.endswith(")"):
        raise problem("it does not end with ')'")
    fields: dict[str, str] = {}
    for part in text[len(PREFIX) : -1].split(";"):
        key, eq, field_value = part.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise problem("expected Name=value parts separated by ';'")
        if key in fields:
            raise problem(f"{key} is given twice")
        fields[key] = field_value.strip()
    known = {"secreturi"} if "secreturi" in fields else {"vaultname", "secretname", "secretversion"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise problem(f"unexpected part(s) {', '.join(unknown)}")
    if "secreturi" in fields:
        vault_url, name, version = _split_secret_uri(fields["secreturi"], problem)
    else:
        vault, name = fields.get("vaultname", ""), fields.get("secretname", "")
        version = fields.get("secretversion") or None
        if not _VAULT_NAME.fullmatch(vault):
            raise problem("VaultName must be a vault name (3-24 letters, digits and hyphens)")
        vault_url = f"https://{vault.lower()}{policy.vault_dns_suffix}/"
    if not _SECRET_NAME.fullmatch(name):
        raise problem("the secret name must be 1-127 letters, digits and hyphens")
    if version is not None and not _VERSION.fullmatch(version):
        raise problem("the secret version must be letters and digits")
    if not policy.allows(vault_url):
        raise problem(
            "its vault is not one the app may send its token to (allowed: "
            f"{policy.describe()}); set ORGSECRETS_AZURE_CLOUD for another cloud"
        )
    return KeyVaultReference(vault_url, name, version, setting, source)


def _split_secret_uri(
    uri: str, problem: Callable[[str], KeyVaultReferenceError]
) -> tuple[str, str, str | None]:
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.hostname:
        raise problem("SecretUri must be an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise problem("SecretUri must have no query, fragment or user")
    segments = parts.path.strip("/").split("/")
    if len(segments) not in (2, 3) or segments[0].lower() != "secrets":
        raise problem("SecretUri's path must be /secrets/<name>/ or /secrets/<name>/<version>")
    version = segments[2] if len(segments) == 3 else None
    return f"https://{parts.netloc.lower()}/", segments[1], version
