"""Read org-scoped and platform-wide secrets from Azure Key Vault.

Quick start::

    import orgsecrets

    password = orgsecrets.get("db-password", org="contoso")
    # contoso--db-password if it exists, else GLOBAL--db-password

    async def handler():
        password = await orgsecrets.aget("db-password", org="contoso")

The module functions use a process-wide store configured from the
environment (``AZURE_KEY_VAULT_URL`` and friends, see :mod:`orgsecrets.config`).
Build a :class:`SecretStore` / :class:`AsyncSecretStore` yourself for another
configuration or credential.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from ._version import __version__
from .config import CacheConfig, EmulatorSettings, LocalFallback, StoreConfig
from .errors import (
    AuthenticationFailedError,
    ConfigurationError,
    InvalidSecretNameError,
    KeyVaultReferenceError,
    OrgSecretsError,
    PermissionDeniedError,
    SecretNotFoundError,
    ThrottledError,
    VaultError,
    VaultHostNotFoundError,
    VaultRequestError,
    VaultUnreachableError,
)
from .naming import SecretName, env_var_name, lookup_names, secret_name
from .store import AsyncSecretStore, HealthReport, HealthStatus, PrefetchResult, SecretStore

__all__ = [
    "AsyncSecretStore",
    "AuthenticationFailedError",
    "CacheConfig",
    "ConfigurationError",
    "EmulatorSettings",
    "HealthReport",
    "HealthStatus",
    "InvalidSecretNameError",
    "KeyVaultReferenceError",
    "LocalFallback",
    "OrgSecretsError",
    "PermissionDeniedError",
    "PrefetchResult",
    "SecretName",
    "SecretNotFoundError",
    "SecretStore",
    "StoreConfig",
    "ThrottledError",
    "VaultError",
    "VaultHostNotFoundError",
    "VaultRequestError",
    "VaultUnreachableError",
    "__version__",
    "aget",
    "default_async_store",
    "default_store",
    "env_var_name",
    "get",
    "lookup_names",
    "reset_default_stores",
    "secret_name",
]

_lock = threading.Lock()
_default: SecretStore | None = None


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a parent's thread may have held it at fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)
_default_async: weakref.WeakKeyDictionary[Any, AsyncSecretStore] = weakref.WeakKeyDictionary()
"""The async store of each event loop. asyncio is imported only by the async path."""


def default_store() -> SecretStore:
    """The process-wide :class:`SecretStore`, configured from the environment on first use."""
    global _default
    store = _default
    if store is None:
        with _lock:
            if _default is None:
                _default = SecretStore(StoreConfig.from_env())
            store = _default
    return store


def default_async_store() -> AsyncSecretStore:
    """The :class:`AsyncSecretStore` of the running event loop, created on first use."""
    import asyncio

    loop = asyncio.get_running_loop()
    store = _default_async.get(loop)
    if store is None:
        store = _default_async[loop] = AsyncSecretStore(StoreConfig.from_env())
    return store


def get(name: str, *, org: str | None = None) -> str:
    """``default_store().get(name, org=org)``: the org's secret, else the GLOBAL one."""
    return default_store().get(name, org=org)


async def aget(name: str, *, org: str | None = None) -> str:
    """``await default_async_store().get(name, org=org)``."""
    return await default_async_store().get(name, org=org)


def reset_default_stores() -> None:
    """Close and forget the process-wide stores (tests; after changing the environment).

    Async stores of other loops are dropped without closing (their loop owns them).
    """
    global _default
    with _lock:
        store, _default = _default, None
    if store is not None:
        store.close()
    _default_async.clear()
