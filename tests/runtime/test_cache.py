"""Cache rules with fake loaders and a fake clock: TTL, jitter, negative entries,
stale-if-error, backoff, refresh-ahead, bounds, invalidation, single-flight."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from orgsecrets import CacheConfig, PermissionDeniedError, VaultUnreachableError
from orgsecrets._cache_core import CacheCore, EntryKind, ReadState
from orgsecrets.cache import AsyncSecretCache, Loaded, SecretCache
from orgsecrets.naming import SecretName, secret_name

NAME = secret_name("db", "contoso")


def unreachable() -> VaultUnreachableError:
    return VaultUnreachableError("down", vault_url="https://v/", operation="get", status=503)


class FakeSource:
    """Answers from a dict; can be told to fail; counts calls."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None

    def __call__(self, name: SecretName) -> Loaded:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return Loaded(self.values.get(name.vault_name), "fake")


def make(source: FakeSource, clock: Any, **cfg: Any) -> SecretCache:
    cfg.setdefault("ttl_jitter_ratio", 0.0)
    return SecretCache(source, config=CacheConfig(**cfg), clock=clock)


def test_hit_within_ttl_then_reload(clock: Any, secret_value: Callable[[str], str]) -> None:
    v1, v2 = secret_value("a"), secret_value("b")
    source = FakeSource({"contoso--db": v1})
    cache = make(source, clock, ttl_s=60)
    assert cache.get(NAME).value == v1
    clock.advance(59)
    assert cache.get(NAME).value == v1 and source.calls == 1
    source.values["contoso--db"] = v2
    clock.advance(2)
    assert cache.get(NAME).value == v2 and source.calls == 2


def test_keys_are_case_insensitive(clock: Any) -> None:
    source = FakeSource({"contoso--db": "x"})
    cache = make(source, clock)
    cache.get(NAME)
    cache.get(secret_name("DB", "Contoso"))
    assert source.calls == 1


def test_jitter_spreads_expiry_within_bounds(clock: Any) -> None:
    core = CacheCore(
        CacheConfig(ttl_s=100, ttl_jitter_ratio=0.5), clock=clock, rng=random.Random(1)
    )
    expiries = set()
    for i in range(50):
        name = secret_name(f"n{i}")
        entry = core.on_loaded(core.key(name), name, Loaded("x", "s"), 0.0)
        assert 50.0 <= entry.expires_at <= 100.0
        expiries.add(round(entry.expires_at, 6))
    assert len(expiries) > 40


def test_negative_entries_are_short(clock: Any) -> None:
    source = FakeSource({})
    cache = make(source, clock, negative_ttl_s=30)
    assert cache.get(NAME).kind is EntryKind.NOT_FOUND
    clock.advance(29)
    cache.get(NAME)
    assert source.calls == 1
    clock.advance(2)
    cache.get(NAME)
    assert source.calls == 2


def test_stale_if_error_then_error_after_max_stale(
    clock: Any, secret_value: Callable[[str], str], debug_log_capture: Any, assert_no_leak: Any
) -> None:
    value = secret_value("stale")
    source = FakeSource({"contoso--db": value})
    cache = make(source, clock, ttl_s=60, max_stale_s=300, error_backoff_initial_s=10)
    cache.get(NAME)
    source.fail = unreachable()
    clock.advance(61)
    entry = cache.get(NAME)
    assert entry.value == value and entry.is_stale and source.calls == 2
    warnings = [r for r in debug_log_capture.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "contoso--db" in warnings[0].getMessage()
    # Inside the backoff the vault is not asked again, and no new warning.
    clock.advance(5)
    assert cache.get(NAME).value == value and source.calls == 2
    clock.advance(6)
    assert cache.get(NAME).value == value and source.calls == 3
    # Past max staleness: the error, with a note saying why.
    clock.advance(400)
    with pytest.raises(VaultUnreachableError) as caught:
        cache.get(NAME)
    assert any("max_stale_s=300" in note for note in caught.value.__notes__)
    assert_no_leak(caught.value)
    # Recovery: a good load resets everything.
    source.fail = None
    clock.advance(1000)
    entry = cache.get(NAME)
    assert entry.value == value and not entry.is_stale and entry.failures == 0


def test_failure_without_stale_value_is_remembered_for_the_backoff(clock: Any) -> None:
    source = FakeSource({})
    source.fail = unreachable()
    cache = make(source, clock, error_backoff_initial_s=2, error_backoff_max_s=8)
    for _ in range(3):
        with pytest.raises(VaultUnreachableError):
            cache.get(NAME)
    assert source.calls == 1
    delays = []
    for _ in range(5):
        entry = cache.peek(NAME)
        assert entry is not None
        delays.append(entry.fresh_until - clock.now)
        clock.advance(delays[-1])
        with pytest.raises(VaultUnreachableError):
            cache.get(NAME)
    assert delays == [2, 4, 8, 8, 8]


def test_permission_denied_is_never_served_stale(clock: Any) -> None:
    source = FakeSource({"contoso--db": "x"})
    cache = make(source, clock, ttl_s=10)
    cache.get(NAME)
    clock.advance(11)
    source.fail = PermissionDeniedError("no", vault_url="v", operation="get", role="r")
    with pytest.raises(PermissionDeniedError):
        cache.get(NAME)


def test_stale_negative_answer_is_served_during_outage(clock: Any) -> None:
    source = FakeSource({})
    cache = make(source, clock, negative_ttl_s=5)
    cache.get(NAME)
    source.fail = unreachable()
    clock.advance(6)
    assert cache.get(NAME).kind is EntryKind.NOT_FOUND


def test_refresh_ahead_serves_and_refreshes_in_background(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    v1, v2 = secret_value("old"), secret_value("new")
    source = FakeSource({"contoso--db": v1})
    cache = make(source, clock, ttl_s=100, refresh_ahead_s=20)
    cache.get(NAME)
    clock.advance(85)
    source.values["contoso--db"] = v2
    source.gate = threading.Event()
    assert cache.get(NAME).value == v1  # served at once, refresh started
    assert cache.get(NAME).value == v1  # still one refresh in flight
    source.gate.set()
    cache.close()
    assert source.calls == 2
    assert cache.get(NAME).value == v2


def test_state_machine() -> None:
    core = CacheCore(
        CacheConfig(ttl_s=100, ttl_jitter_ratio=0, refresh_ahead_s=10), clock=lambda: 0
    )
    entry = core.on_loaded("k", NAME, Loaded("hidden-value-42", "s"), 0.0)
    assert core.state(None, 0) is ReadState.MISS
    assert core.state(entry, 50) is ReadState.FRESH
    assert core.state(entry, 95) is ReadState.REFRESH_AHEAD
    assert core.state(entry, 100) is ReadState.EXPIRED
    assert "hidden-value-42" not in repr(entry) and "contoso--db" in repr(entry)


def test_bounded_size_evicts_oldest_loaded(clock: Any) -> None:
    source = FakeSource({})
    cache = make(source, clock, max_entries=3)
    names = [secret_name(f"n{i}") for i in range(5)]
    for n in names:
        cache.get(n)
    assert len(cache) == 3
    assert cache.peek(names[0]) is None and cache.peek(names[4]) is not None


def test_invalidate(clock: Any) -> None:
    source = FakeSource({"contoso--db": "x"})
    cache = make(source, clock)
    cache.get(NAME)
    cache.invalidate(NAME)
    cache.get(NAME)
    cache.invalidate()
    cache.get(NAME)
    assert source.calls == 3


def test_single_flight_threads(clock: Any) -> None:
    source = FakeSource({"contoso--db": "x"})
    source.gate = threading.Event()
    cache = make(source, clock)
    barrier = threading.Barrier(50)
    results: list[str | None] = []

    def reader() -> None:
        barrier.wait()
        results.append(cache.get(NAME).value)

    threads = [threading.Thread(target=reader) for _ in range(50)]
    for t in threads:
        t.start()
    while source.calls == 0:
        threading.Event().wait(0.001)
    threading.Event().wait(0.05)
    source.gate.set()
    for t in threads:
        t.join()
    assert source.calls == 1 and results == ["x"] * 50


def test_single_flight_tasks_and_shared_errors(clock: Any) -> None:
    calls = 0

    async def loader(name: SecretName) -> Loaded:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise unreachable()

    async def main() -> list[Any]:
        cache = AsyncSecretCache(loader, config=CacheConfig(), clock=clock)
        return await asyncio.gather(*(cache.get(NAME) for _ in range(100)), return_exceptions=True)

    results = asyncio.run(main())
    assert calls == 1 and all(isinstance(r, VaultUnreachableError) for r in results)


def test_async_cancelled_caller_does_not_cancel_the_load(clock: Any) -> None:
    calls = 0

    async def loader(name: SecretName) -> Loaded:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return Loaded("x", "fake")

    async def main() -> str | None:
        cache = AsyncSecretCache(loader, config=CacheConfig(), clock=clock)
        first = asyncio.ensure_future(cache.get(NAME))
        second = asyncio.ensure_future(cache.get(NAME))
        await asyncio.sleep(0)
        first.cancel()
        entry = await second
        return entry.value

    assert asyncio.run(main()) == "x" and calls == 1


def test_async_stale_if_error(clock: Any, secret_value: Callable[[str], str]) -> None:
    value = secret_value("async-stale")
    fail = False

    async def loader(name: SecretName) -> Loaded:
        if fail:
            raise unreachable()
        return Loaded(value, "fake")

    async def main() -> None:
        nonlocal fail
        cache = AsyncSecretCache(
            loader, config=CacheConfig(ttl_s=10, ttl_jitter_ratio=0, max_stale_s=20), clock=clock
        )
        await cache.get(NAME)
        fail = True
        clock.advance(15)
        assert (await cache.get(NAME)).value == value
        clock.advance(100)
        with pytest.raises(VaultUnreachableError):
            await cache.get(NAME)

    asyncio.run(main())
