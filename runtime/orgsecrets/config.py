"""Typed, frozen configuration. Every duration is in seconds and says so (``_s``).

Build it directly, or from the environment with :meth:`StoreConfig.from_env`:

=============================  ==================================================
``AZURE_KEY_VAULT_URL``        the vault, ``https://<name>.vault.azure.net/``;
                               unset means local development (no vault)
``ORGSECRETS_LOCAL_FALLBACK``  ``when-no-vault`` (default), ``when-unreachable``
                               or ``never``
``ORGSECRETS_DOTENV``          the ``.env`` file (default ``.env``; empty: none)
``ORGSECRETS_LOCAL_SETTINGS``  Azure Functions' ``local.settings.json`` (default
                               ``local.settings.json``; empty: none)
``ORGSECRETS_TTL_S``           cache TTL (default 3600)
``ORGSECRETS_MAX_STALE_S``     stale-if-error limit past expiry (default 21600)
``ORGSECRETS_NEGATIVE_TTL_S``  how long "not found" is remembered (default 30)
``ORGSECRETS_REFRESH_AHEAD_S`` refresh this long before expiry (default 0: off)
``ORGSECRETS_STALE_WAIT_S``    longest wait for a refresh when a stale value may
                               be served instead (default 2)
``KEYVAULT_EMULATOR_CA``       CA bundle of the local emulator (only used when the
                               vault host is ``127.0.0.1`` or ``localhost``;
                               ``REQUESTS_CA_BUNDLE`` is the second choice). With
                               no vault configured, it lets Key Vault references
                               in local settings point at the emulator
``ORGSECRETS_AZURE_CLOUD``     the cloud whose vault hosts Key Vault references may
                               name: ``AzureCloud`` (default), ``AzureChinaCloud``,
                               ``AzureUSGovernment``
``ORGSECRETS_ALLOW_LOCAL_IN_AZURE``  ``true``: on App Service / Functions with no
                               vault configured, read the local sources anyway
                               (default: refuse, see :func:`detect_hosting`)
=============================  ==================================================

The credential is not configuration: pass any ``TokenCredential`` to the
store, or let it build ``DefaultAzureCredential`` (which reads
``AZURE_CLIENT_ID``, ``IDENTITY_ENDPOINT`` and friends itself).
"""

from __future__ import annotations

import enum
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "AZURE_CLOUD_VAULT_SUFFIXES",
    "AZURE_VAULT_DOMAINS",
    "CacheConfig",
    "EmulatorSettings",
    "LocalFallback",
    "StoreConfig",
    "detect_hosting",
    "is_loopback_url",
]

AZURE_VAULT_DOMAINS = (
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
    ".managedhsm.azure.net",
)
"""Host suffixes of real Azure Key Vaults: emulator settings are refused for them."""

AZURE_CLOUD_VAULT_SUFFIXES = {
    "AzureCloud": ".vault.azure.net",
    "AzureChinaCloud": ".vault.azure.cn",
    "AzureUSGovernment": ".vault.usgovcloudapi.net",
}
"""Each cloud's Key Vault DNS suffix, by the names ``az cloud list`` uses."""

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def detect_hosting(environ: Mapping[str, str] | None = None) -> str | None:
    """Which Azure host the process runs on, from the variables the platform sets; None: local.

    App Service and Functions (in Azure) set ``WEBSITE_INSTANCE_ID`` and
    ``WEBSITE_SITE_NAME``; Functions set ``FUNCTIONS_WORKER_RUNTIME`` and
    ``AZURE_FUNCTIONS_ENVIRONMENT`` (``Production`` unless changed). Functions
    Core Tools (``func start``) set ``AZURE_FUNCTIONS_ENVIRONMENT=Development``:
    local.
    """
    env = os.environ if environ is None else environ
    if env.get("AZURE_FUNCTIONS_ENVIRONMENT", "").strip().lower() == "development":
        return None
    functions = bool(env.get("FUNCTIONS_WORKER_RUNTIME"))
    site = env.get("WEBSITE_SITE_NAME") or ""
    if site or env.get("WEBSITE_INSTANCE_ID"):
        kind = "Azure Functions" if functions else "Azure App Service"
        return f"{kind} (site {site!r})" if site else kind
    if functions and env.get("AZURE_FUNCTIONS_ENVIRONMENT"):
        return "Azure Functions"
    return None


def _flag(env: Mapping[str, str], var: str) -> bool | None:
    raw = env.get(var)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{var}={raw!r}: expected true or false")


class LocalFallback(enum.Enum):
    """When the local sources (environment, ``.env``, ``local.settings.json``) are read."""

    WHEN_NO_VAULT = "when-no-vault"
    """Only when no vault URL is configured (the default: local development)."""
    WHEN_UNREACHABLE = "when-unreachable"
    """Also when the vault is unreachable and no cached value is left (opt-in)."""
    NEVER = "never"
    """Never; a missing vault URL is a configuration error."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(message)


def _finite_non_negative(name: str, value: float) -> None:
    _require(
        isinstance(value, int | float) and math.isfinite(value) and value >= 0,
        f"{name} must be a finite number >= 0, got {value!r}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """How values are kept in memory between reads of the vault."""

    ttl_s: float = 3600.0
    """A value is re-read from the vault after at most this long."""
    ttl_jitter_ratio: float = 0.1
    """Each entry expires at a random point in ``[ttl_s * (1 - ratio), ttl_s]``,
    so entries loaded together do not all expire together."""
    negative_ttl_s: float = 30.0
    """How long "not found" is remembered, so misses do not hammer the vault."""
    max_stale_s: float = 21600.0
    """While the vault fails, a value is still served up to this long past its
    expiry (with a warning naming the secret); after that the error is raised."""
    stale_wait_s: float = 2.0
    """A read of an expired entry that may still be served stale waits at most
    this long for its refresh; then it serves the stale value (with a
    warning) and the refresh goes on in the background. Bounds reads while a
    vault or identity endpoint hangs instead of failing. 0: never wait."""
    refresh_ahead_s: float = 0.0
    """If > 0, a read this close to expiry returns the cached value and
    refreshes it in the background, so hot secrets never block. 0 disables."""
    error_backoff_initial_s: float = 1.0
    """After a failed refresh the stale value is served without calling the
    vault for this long, doubling with each consecutive failure..."""
    error_backoff_max_s: float = 60.0
    """...up to this cap."""
    max_entries: int = 1000
    """Bound on cached names; the oldest-loaded entry is evicted first."""
    prefetch_concurrency: int = 8
    """How many values :meth:`prefetch` reads at once."""

    def __post_init__(self) -> None:
        for name in (
            "ttl_s",
            "negative_ttl_s",
            "max_stale_s",
            "stale_wait_s",
            "refresh_ahead_s",
            "error_backoff_initial_s",
            "error_backoff_max_s",
        ):
            _finite_non_negative(name, getattr(self, name))
        _require(
            0.0 <= self.ttl_jitter_ratio < 1.0,
            f"ttl_jitter_ratio must be in [0, 1), got {self.ttl_jitter_ratio!r}",
        )
        _require(
            self.refresh_ahead_s < self.ttl_s * (1.0 - self.ttl_jitter_ratio) or not self.ttl_s,
            f"refresh_ahead_s ({self.refresh_ahead_s}) must be shorter than the shortest "
            f"TTL ({self.ttl_s * (1.0 - self.ttl_jitter_ratio)} s)",
        )
        _require(
            self.error_backoff_initial_s <= self.error_backoff_max_s,
            "error_backoff_initial_s must not exceed error_backoff_max_s",
        )
        _require(
            isinstance(self.max_entries, int) and self.max_entries >= 1,
            f"max_entries must be an int >= 1, got {self.max_entries!r}",
        )
        _require(
            isinstance(self.prefetch_concurrency, int) and 1 <= self.prefetch_concurrency <= 64,
            f"prefetch_concurrency must be an int in [1, 64], got {self.prefetch_concurrency!r}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorSettings:
    """How to reach the local Key Vault emulator instead of Azure.

    ``ca_path`` is the emulator's CA bundle, passed as ``connection_verify``;
    the challenge's resource check is turned off because the emulator lives on
    ``127.0.0.1:PORT``, not under ``vault.azure.net``. Refused for real Azure hosts.
    """

    ca_path: str

    def __post_init__(self) -> None:
        _require(bool(self.ca_path), "EmulatorSettings.ca_path is empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorSettings | None:
        """From ``KEYVAULT_EMULATOR_CA``, else ``REQUESTS_CA_BUNDLE``; None if neither is set."""
        env = os.environ if environ is None else environ
        ca = env.get("KEYVAULT_EMULATOR_CA") or env.get("REQUESTS_CA_BUNDLE")
        return cls(ca_path=ca) if ca else None


def is_loopback_url(url: str) -> bool:
    """True if ``url``'s host is ``localhost`` or a loopback address (``127.0.0.1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_azure_vault_url(url: str) -> bool:
    """True if ``url``'s host is a real Azure Key Vault (or Managed HSM) host."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(domain) for domain in AZURE_VAULT_DOMAINS)


def _validate_vault_url(url: str) -> None:
    parts = urlsplit(url)
    _require(
        parts.scheme == "https" and bool(parts.hostname),
        f"vault URL {url!r} must be https://<host>/ (Key Vault clients refuse plain http)",
    )
    _require(
        parts.path in ("", "/"),
        f"vault URL {url!r} must not have a path: a vault cannot live under a path prefix",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Everything a :class:`~orgsecrets.SecretStore` needs, except the credential."""

    vault_url: str | None = None
    """``https://<name>.vault.azure.net/``; None means local development."""
    cache: CacheConfig = field(default_factory=CacheConfig)
    local_fallback: LocalFallback = LocalFallback.WHEN_NO_VAULT
    environment_fallback: bool = True
    """Read ``{ORG}__{KEY}`` / ``GLOBAL__{KEY}`` environment variables as a local source."""
    dotenv_path: Path | None = Path(".env")
    """The ``.env`` file read as a local source; a missing file is skipped."""
    local_settings_path: Path | None = Path("local.settings.json")
    """Azure Functions' ``local.settings.json`` (its ``Values``); missing is skipped."""
    emulator: EmulatorSettings | None = None
    """Emulator settings; when None they are taken from the environment, but
    only if the vault host is loopback."""
    azure_cloud: str = "AzureCloud"
    """The cloud whose vault hosts (``*.vault.azure.net`` for ``AzureCloud``) Key
    Vault references in local settings may name, besides the configured vault."""
    hosting: str | None = field(default_factory=detect_hosting)
    """The Azure host the process runs on (:func:`detect_hosting`), None when local.
    There, with no vault configured, the store refuses to read local sources
    unless :attr:`allow_local_when_hosted`."""
    allow_local_when_hosted: bool = False
    """Read local sources on App Service / Functions with no vault (on purpose)."""
    retry_total: int = 5
    """Retries of a failed request (also used as azure-core's ``retry_status``)."""
    retry_backoff_factor_s: float = 0.8
    retry_backoff_max_s: float = 120.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.vault_url is not None:
            _validate_vault_url(self.vault_url)
            if self.emulator is not None:
                _require(
                    not is_azure_vault_url(self.vault_url),
                    f"emulator settings given for {self.vault_url!r}, a real Azure Key Vault "
                    "host; they are only for the local emulator",
                )
        else:
            _require(
                self.local_fallback is not LocalFallback.NEVER,
                "no vault configured: set AZURE_KEY_VAULT_URL (or vault_url=), or allow "
                "the local fallback (ORGSECRETS_LOCAL_FALLBACK=when-no-vault)",
            )
        _require(
            self.azure_cloud in AZURE_CLOUD_VAULT_SUFFIXES,
            f"azure_cloud {self.azure_cloud!r}: expected one of "
            + ", ".join(AZURE_CLOUD_VAULT_SUFFIXES),
        )
        _require(
            isinstance(self.retry_total, int) and 0 <= self.retry_total <= 20,
            f"retry_total must be an int in [0, 20], got {self.retry_total!r}",
        )
        for name in (
            "retry_backoff_factor_s",
            "retry_backoff_max_s",
            "connect_timeout_s",
            "read_timeout_s",
        ):
            _finite_non_negative(name, getattr(self, name))

    @property
    def vault_dns_suffix(self) -> str:
        """The Key Vault DNS suffix of :attr:`azure_cloud` (``.vault.azure.net``)."""
        return AZURE_CLOUD_VAULT_SUFFIXES[self.azure_cloud]

    @property
    def local_refused(self) -> str | None:
        """Why the local sources must not be read (hosted in Azure, no vault), or None."""
        if self.vault_url is not None or self.hosting is None or self.allow_local_when_hosted:
            return None
        return (
            f"running on {self.hosting} with no vault configured: set the app setting "
            "AZURE_KEY_VAULT_URL to the vault's URL (https://<name>.vault.azure.net/), or, to "
            "read secrets from app settings / environment variables on purpose, set "
            "ORGSECRETS_ALLOW_LOCAL_IN_AZURE=true"
        )

    @property
    def uses_emulator(self) -> bool:
        """True when requests go to the local emulator (explicitly or by a loopback host)."""
        return self.vault_url is not None and (
            self.emulator is not None or is_loopback_url(self.vault_url)
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> StoreConfig:
        """Configuration from the environment (see the module doc); keywords win.

        :raises ConfigurationError: a variable that does not parse, named.
        """
        env = os.environ if environ is None else environ
        cache_fields: dict[str, Any] = {}
        for var, attr in (
            ("ORGSECRETS_TTL_S", "ttl_s"),
            ("ORGSECRETS_MAX_STALE_S", "max_stale_s"),
            ("ORGSECRETS_NEGATIVE_TTL_S", "negative_ttl_s"),
            ("ORGSECRETS_REFRESH_AHEAD_S", "refresh_ahead_s"),
            ("ORGSECRETS_STALE_WAIT_S", "stale_wait_s"),
        ):
            raw = env.get(var)
            if raw:
                try:
                    cache_fields[attr] = float(raw)
                except ValueError:
                    raise ConfigurationError(f"{var}={raw!r} is not a number of seconds") from None
        kwargs: dict[str, Any] = {}
        vault_url = env.get("AZURE_KEY_VAULT_URL") or None
        kwargs["vault_url"] = vault_url
        if cache_fields:
            kwargs["cache"] = CacheConfig(**cache_fields)
        fallback = env.get("ORGSECRETS_LOCAL_FALLBACK")
        if fallback:
            try:
                kwargs["local_fallback"] = LocalFallback(fallback.strip().lower())
            except ValueError:
                choices = ", ".join(m.value for m in LocalFallback)
                raise ConfigurationError(
                    f"ORGSECRETS_LOCAL_FALLBACK={fallback!r}: expected one of {choices}"
                ) from None
        for var, attr in (
            ("ORGSECRETS_DOTENV", "dotenv_path"),
            ("ORGSECRETS_LOCAL_SETTINGS", "local_settings_path"),
        ):
            if var in env:
                kwargs[attr] = Path(env[var]) if env[var] else None
        if vault_url is not None and is_loopback_url(vault_url):
            kwargs["emulator"] = EmulatorSettings.from_env(env)
        elif vault_url is None and env.get("KEYVAULT_EMULATOR_CA"):
            # Local development against the emulator: references may point at it.
            kwargs["emulator"] = EmulatorSettings(ca_path=env["KEYVAULT_EMULATOR_CA"])
        cloud = env.get("ORGSECRETS_AZURE_CLOUD")
        if cloud:
            kwargs["azure_cloud"] = cloud.strip()
        kwargs["hosting"] = detect_hosting(env)
        allow = _flag(env, "ORGSECRETS_ALLOW_LOCAL_IN_AZURE")
        if allow is not None:
            kwargs["allow_local_when_hosted"] = allow
        kwargs.update(overrides)
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> StoreConfig:
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)
