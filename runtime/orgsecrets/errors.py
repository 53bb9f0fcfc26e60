"""The package's own exceptions.

Everything raised by :mod:`orgsecrets` derives from :class:`OrgSecretsError`.
Azure SDK exceptions are translated at the Key Vault boundary
(:mod:`orgsecrets._azure_errors`), so callers never need to import
``azure.core.exceptions``; the original is kept as ``__cause__``.

No message built here ever contains a secret value: messages name secrets,
vaults, sources, operations and roles, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationFailedError",
    "ConfigurationError",
    "InvalidSecretNameError",
    "KeyVaultReferenceError",
    "OrgSecretsError",
    "PermissionDeniedError",
    "SecretNotFoundError",
    "ThrottledError",
    "VaultError",
    "VaultHostNotFoundError",
    "VaultRequestError",
    "VaultUnreachableError",
]

SECRETS_USER_ROLE = "Key Vault Secrets User"
"""The built-in Azure role an application identity needs to read secrets."""


class OrgSecretsError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(OrgSecretsError, ValueError):
    """The configuration is missing or inconsistent; the message says what to set."""


class KeyVaultReferenceError(ConfigurationError):
    """A local setting holds a Key Vault reference (``@Microsoft.KeyVault(...)``) that
    is malformed or names a host that is not allowed. ``setting`` and ``source`` say
    which; the message never repeats the setting's value.
    """

    def __init__(self, message: str, *, setting: str, source: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.source = source


class InvalidSecretNameError(OrgSecretsError, ValueError):
    """A secret name or org id breaks the naming rules; raised before any call."""


class SecretNotFoundError(OrgSecretsError, KeyError):
    """No source holds the secret.

    A :class:`KeyError`, so ``except KeyError`` works. ``names`` are the vault
    names tried in order, ``sources`` describe where each was looked up.
    """

    def __init__(self, name: str, *, names: Sequence[str], sources: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.names = tuple(names)
        self.sources = tuple(sources)

    def __str__(self) -> str:
        tried = ", ".join(repr(n) for n in self.names)
        where = "; ".join(self.sources) if self.sources else "no source configured"
        return f"secret {self.name!r} not found: tried {tried} in {where}"


class VaultError(OrgSecretsError):
    """Key Vault could not answer a request. ``vault_url`` and ``operation`` say which."""

    def __init__(self, message: str, *, vault_url: str, operation: str) -> None:
        super().__init__(message)
        self.vault_url = vault_url
        self.operation = operation


class AuthenticationFailedError(VaultError):
    """No token could be obtained, or the vault rejected it. The message says how to fix it."""


class PermissionDeniedError(VaultError):
    """The identity is authenticated but not allowed to perform ``operation``.

    ``role`` is the built-in role that grants it (``Key Vault Secrets User``).
    """

    def __init__(self, message: str, *, vault_url: str, operation: str, role: str) -> None:
        super().__init__(message, vault_url=vault_url, operation=operation)
        self.role = role


class VaultUnreachableError(VaultError):
    """The vault did not answer, or answered with a server error, after every retry.

    ``status`` is the last HTTP status (None when no response came back).
    """

    def __init__(
        self, message: str, *, vault_url: str, operation: str, status: int | None = None
    ) -> None:
        super().__init__(message, vault_url=vault_url, operation=operation)
        self.status = status


class VaultHostNotFoundError(VaultUnreachableError, ConfigurationError):
    """The vault's host name does not resolve: a typo in the URL, or a deleted vault.

    Raised at once, without retries. A :class:`ConfigurationError` (fix the
    URL) and a :class:`VaultUnreachableError` (a cached value may still be
    served while it lasts, in case it is DNS that is failing).
    """


class ThrottledError(VaultError):
    """Key Vault kept answering 429 after every retry. ``retry_after_s`` is its last hint."""

    def __init__(
        self, message: str, *, vault_url: str, operation: str, retry_after_s: float | None
    ) -> None:
        super().__init__(message, vault_url=vault_url, operation=operation)
        self.retry_after_s = retry_after_s


class VaultRequestError(VaultError):
    """Key Vault refused the request for another reason (``status``, ``code``)."""

    def __init__(
        self, message: str, *, vault_url: str, operation: str, status: int | None, code: str | None
    ) -> None:
        super().__init__(message, vault_url=vault_url, operation=operation)
        self.status = status
        self.code = code
