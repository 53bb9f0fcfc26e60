"""prefetch() must not record "not found" for an org name invalidated while it ran."""

from __future__ import annotations

import asyncio

from orgsecrets import AsyncSecretStore, SecretStore, StoreConfig
from orgsecrets.cache import Loaded
from orgsecrets.local_sources import LocalSources
from orgsecrets.naming import SecretName


def config() -> StoreConfig:
    return StoreConfig(environment_fallback=False, dotenv_path=None, local_settings_path=None)


class Vault:
    """GLOBAL--db holds a value; contoso--db is created (and invalidated) during the prefetch."""

    def __init__(self) -> None:
        self.values = {"global--db": "global-value"}
        self.on_read: list[object] = []

    def names(self) -> list[SecretName]:
        return [SecretName("GLOBAL", "db")]

    def lookup(self, name: SecretName) -> Loaded:
        for hook in self.on_read:
            hook()  # type: ignore[operator]
        self.on_read.clear()
        return Loaded(self.values.get(name.vault_name.lower()), "vault")


def test_prefetch_does_not_hide_an_override_invalidated_meanwhile() -> None:
    vault = Vault()
    store = SecretStore(config())
    store._cache._loader = vault.lookup
    store._local_names = vault.names  # type: ignore[method-assign]

    def create_override() -> None:
        vault.values["contoso--db"] = "org-value"
        store.invalidate("db", org="contoso")

    vault.on_read.append(create_override)
    store.prefetch("contoso")
    assert store.get("db", org="contoso") == "org-value"


def test_async_prefetch_does_not_hide_an_override_invalidated_meanwhile() -> None:
    vault = Vault()

    async def scenario() -> str:
        store = AsyncSecretStore(config())

        async def lookup(name: SecretName) -> Loaded:
            return vault.lookup(name)

        store._cache._loader = lookup

        def create_override() -> None:
            vault.values["contoso--db"] = "org-value"
            store.invalidate("db", org="contoso")

        vault.on_read.append(create_override)

        class Listed(LocalSources):
            def names(self) -> list[SecretName]:
                return vault.names()

        store._core.local = Listed([])
        await store.prefetch("contoso")
        return await store.get("db", org="contoso")

    assert asyncio.run(scenario()) == "org-value"
