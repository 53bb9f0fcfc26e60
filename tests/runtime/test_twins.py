"""The sync and asyncio twins expose the same public methods with the same signatures."""

from __future__ import annotations

import inspect

import pytest
from orgsecrets import AsyncSecretStore, SecretStore
from orgsecrets.cache import AsyncSecretCache, SecretCache
from orgsecrets.keyvault import AsyncKeyVaultSource, KeyVaultSource

PAIRS = [
    (SecretStore, AsyncSecretStore),
    (SecretCache, AsyncSecretCache),
    (KeyVaultSource, AsyncKeyVaultSource),
]
SYNC_ONLY = {"__enter__", "__exit__"}
ASYNC_ONLY = {"__aenter__", "__aexit__"}
# Methods that do no I/O stay plain methods in the async twin.
PURE = {"invalidate", "peek", "prime"}


def public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if (not name.startswith("_") or name in SYNC_ONLY | ASYNC_ONLY)
        and (inspect.isfunction(member) or isinstance(member, property))
    }


def shape(member: object) -> object:
    if isinstance(member, property):
        return "property"
    signature = inspect.signature(member)  # type: ignore[arg-type]
    params = list(signature.parameters.values())[1:]
    return [(p.name, p.kind, p.default, str(p.annotation).replace("Async", "")) for p in params]


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_same_public_surface(sync_cls: type, async_cls: type) -> None:
    sync_members = public(sync_cls)
    async_members = public(async_cls)
    assert set(sync_members) - SYNC_ONLY == set(async_members) - ASYNC_ONLY
    for name in set(sync_members) - SYNC_ONLY:
        assert shape(sync_members[name]) == shape(async_members[name]), name
        if name in PURE or isinstance(sync_members[name], property):
            continue
        sync_fn, async_fn = sync_members[name], async_members[name]
        assert not inspect.iscoroutinefunction(sync_fn), name
        assert not inspect.isasyncgenfunction(sync_fn), name
        assert inspect.iscoroutinefunction(async_fn) or inspect.isasyncgenfunction(async_fn), name
    assert shape(sync_cls.__init__) == shape(async_cls.__init__)
