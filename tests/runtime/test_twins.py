"""The sync and asyncio twins expose the same public methods with the same signatures."""

from __future__ import annotations

import inspect
from typing import Any

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


def test_both_loops_drive_one_core_alike() -> None:
    """run and arun answer a core's requests alike: our errors as values, others raised."""
    import asyncio

    from orgsecrets._steps import arun, run
    from orgsecrets.errors import VaultError

    def core() -> Any:
        first = yield "a"
        second = yield "b"
        return (first, type(second).__name__)

    def answer(request: str) -> str:
        if request == "b":
            raise VaultError("down", vault_url="https://v/", operation="get")
        return request.upper()

    async def aanswer(request: str) -> str:
        return answer(request)

    assert run(core(), answer) == ("A", "VaultError")
    assert asyncio.run(arun(core(), aanswer)) == ("A", "VaultError")

    def broken(request: str) -> str:
        raise KeyError(request)

    async def abroken(request: str) -> str:
        raise KeyError(request)

    with pytest.raises(KeyError):
        run(core(), broken)
    with pytest.raises(KeyError):
        asyncio.run(arun(core(), abroken))
