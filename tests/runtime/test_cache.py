"""Cache rules with fake loaders and a fake clock: TTL, jitter, negative entries,
stale-if-error, backoff, refresh-ahead, bounds, invalidation, single-flight."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    CacheConfig,
    PermissionDeniedError,
    SecretStore,
    StoreConfig,
    VaultUnreachableError,
)
from orgsecrets import cache as cache_module
from orgsecrets._cache_core import CacheCore, EntryKind, ReadState
from orgsecrets.cache import AsyncSecretCache, Loaded, SecretCache
from orgsecrets.naming import SecretName, secret_name

NAME = secret_name("db", "contoso")


def unreachable() -> VaultUnreachableError:
    return VaultUnreachableError("down", vault_url="https://v/", operation="get", status=503)


class FakeSource:
    """Answers from a dict; can be told to fail; counts calls.

    A call reads the value first, then (if a ``gate`` is set) signals
    ``started`` and waits for the gate: a load "in flight" has already read
    the vault. Setting ``gate`` to None affects later calls only.
    """

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None
        self.started = threading.Semaphore(0)

    def __call__(self, name: SecretName) -> Loaded:
        self.calls += 1
        value = self.values.get(name.vault_name)
        gate = self.gate
        if gate is not None:
            self.started.release()
            assert gate.wait(10), "test gate never opened"
        if self.fail is not None:
            raise self.fail
        return Loaded(value, "fake")


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


# --- close(): no flight is left behind ------------------------------------------------------


def call_in_thread(call: Callable[[], Any], *, limit_s: float = 10.0) -> Any:
    """Run ``call`` in a daemon thread; fail (instead of hanging the suite) if it never returns.

    The limit is a guard against a hang, not a timing assertion.
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), "the call hung (waiting on a flight nobody will resolve)"
    if failure:
        raise failure[0]
    return outcome[0]


class SteppedExecutor(ThreadPoolExecutor):
    """Shuts down in two steps: cancel the queued work, *then* open ``gate`` for the running work.

    So the test knows, without sleeping, that the queued refresh was cancelled
    while both workers were still busy.
    """

    gate: threading.Event

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=cancel_futures)
        self.gate.set()
        super().shutdown(wait=wait)


def test_close_resolves_refreshes_it_cancels(
    clock: Any, monkeypatch: pytest.MonkeyPatch, secret_value: Callable[[str], str]
) -> None:
    # The review's repro: 3 keys in the refresh-ahead window, 2 workers, close(),
    # then a read of the third key (now expired) must load it, not hang.
    names = [secret_name(f"k{i}") for i in range(3)]
    source = FakeSource({n.vault_name: secret_value(f"k{i}") for i, n in enumerate(names)})
    cache = make(source, clock, ttl_s=100, refresh_ahead_s=20)
    for n in names:
        cache.get(n)
    clock.advance(85)
    gate = source.gate = threading.Event()
    SteppedExecutor.gate = gate
    monkeypatch.setattr(cache_module, "ThreadPoolExecutor", SteppedExecutor)
    for n in names:
        cache.get(n)  # served; 3 refreshes submitted to 2 workers
    for _ in range(2):
        assert source.started.acquire(timeout=10)  # both workers busy: the third is queued
    source.gate = None
    cache.close()  # cancels the queued refresh, then lets the running ones finish
    assert source.calls == 5
    rotated = secret_value("k2-rotated")
    source.values[names[2].vault_name] = rotated
    clock.advance(20)  # k2 (never refreshed) has expired
    entry = call_in_thread(lambda: cache.get(names[2]))
    assert entry.value == rotated and source.calls == 6
    assert cache.peek(names[2]) is entry


def test_refresh_ahead_after_close_starts_no_thread(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    # After close() the cache still works, synchronously: a read in the
    # refresh-ahead window is served as is; an expired one loads in the caller.
    v1, v2 = secret_value("before"), secret_value("after")
    source = FakeSource({"contoso--db": v1})
    cache = make(source, clock, ttl_s=100, refresh_ahead_s=20)
    cache.get(NAME)
    cache.close()
    clock.advance(85)
    source.values["contoso--db"] = v2
    assert cache.get(NAME).value == v1
    cache.close()  # would wait for a background refresh, had one been started
    assert source.calls == 1
    clock.advance(20)
    assert cache.get(NAME).value == v2 and source.calls == 2


def async_source(
    values: dict[str, str], gate: asyncio.Event | None = None
) -> tuple[Callable[[SecretName], Any], dict[str, Any]]:
    """An async FakeSource: reads first, then waits for ``state['gate']`` if set."""
    state: dict[str, Any] = {"calls": 0, "gate": gate, "started": asyncio.Event()}

    async def loader(name: SecretName) -> Loaded:
        state["calls"] += 1
        value = values.get(name.vault_name)
        gate = state["gate"]
        if gate is not None:
            state["started"].set()
            await gate.wait()
        return Loaded(value, "fake")

    return loader, state


def test_async_close_cancelled_before_refreshes_start(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    # close() under a timeout that fires at once cancels the background
    # refresh tasks before they ever run; their flights must not be left behind.
    names = [secret_name(f"k{i}") for i in range(3)]
    values = {n.vault_name: secret_value(f"k{i}") for i, n in enumerate(names)}
    loader, state = async_source(values)

    async def main() -> None:
        cfg = CacheConfig(ttl_s=100, ttl_jitter_ratio=0, refresh_ahead_s=20)
        cache = AsyncSecretCache(loader, config=cfg, clock=clock)
        for n in names:
            await cache.get(n)
        clock.advance(85)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                for n in names:
                    await cache.get(n)  # served; 3 refresh tasks created, not yet run
                await cache.close()
        assert state["calls"] == 3  # the refreshes never reached the source
        rotated = values[names[2].vault_name] = secret_value("k2-rotated")
        clock.advance(20)
        entry = await asyncio.wait_for(cache.get(names[2]), 10)  # guard against a hang
        assert entry.value == rotated and state["calls"] == 4

    asyncio.run(main())


def test_async_load_cancelled_by_close_does_not_cancel_its_callers(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    value = secret_value("async-close")
    gate = asyncio.Event()
    loader, state = async_source({"contoso--db": value}, gate)

    async def main() -> None:
        cache = AsyncSecretCache(loader, config=CacheConfig(), clock=clock)
        caller = asyncio.ensure_future(cache.get(NAME))
        await state["started"].wait()  # the caller's load is in the source
        state["gate"] = None
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await cache.close()  # cancelled: cancels the running load
        entry = await caller  # the caller was not cancelled: it loads again
        assert entry.value == value and state["calls"] == 2

    asyncio.run(main())


def test_async_refresh_ahead_after_close_starts_no_task(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    v1, v2 = secret_value("before"), secret_value("after")
    values = {"contoso--db": v1}
    loader, state = async_source(values)

    async def main() -> None:
        cfg = CacheConfig(ttl_s=100, ttl_jitter_ratio=0, refresh_ahead_s=20)
        cache = AsyncSecretCache(loader, config=cfg, clock=clock)
        await cache.get(NAME)
        await cache.close()
        clock.advance(85)
        values["contoso--db"] = v2
        assert (await cache.get(NAME)).value == v1
        await cache.close()  # would wait for a background refresh, had one been started
        assert state["calls"] == 1
        clock.advance(20)
        assert (await cache.get(NAME)).value == v2 and state["calls"] == 2

    asyncio.run(main())


# --- invalidate() while a load is in flight (rotation) ----------------------------------------


@pytest.mark.parametrize("everything", [False, True], ids=["one", "all"])
@pytest.mark.parametrize("read", ["while-in-flight", "after-it-lands"])
def test_invalidate_forgets_the_load_in_flight(
    clock: Any, secret_value: Callable[[str], str], read: str, everything: bool
) -> None:
    old, new = secret_value("pre-rotation"), secret_value("rotated")
    source = FakeSource({"contoso--db": old})
    gate = source.gate = threading.Event()
    cache = make(source, clock)
    first: list[str | None] = []
    reader = threading.Thread(target=lambda: first.append(cache.get(NAME).value))
    reader.start()
    assert source.started.acquire(timeout=10)  # the load has read the old value
    source.gate = None
    source.values["contoso--db"] = new  # rotation...
    cache.invalidate(None if everything else NAME)  # ...then invalidate
    if read == "after-it-lands":
        gate.set()
        reader.join()
    assert cache.get(NAME).value == new  # a new load, not the pre-rotation flight
    gate.set()
    reader.join()
    assert first == [old]  # that read began before invalidate(): the old value is fine
    entry = cache.peek(NAME)
    assert entry is not None and entry.value == new  # the old flight did not publish
    assert cache.get(NAME).value == new and source.calls == 2


@pytest.mark.parametrize("read", ["while-in-flight", "after-it-lands"])
def test_async_invalidate_forgets_the_load_in_flight(
    clock: Any, secret_value: Callable[[str], str], read: str
) -> None:
    old, new = secret_value("pre-rotation"), secret_value("rotated")
    values = {"contoso--db": old}
    gate = asyncio.Event()
    loader, state = async_source(values, gate)

    async def main() -> None:
        cache = AsyncSecretCache(loader, config=CacheConfig(ttl_jitter_ratio=0), clock=clock)
        first = asyncio.ensure_future(cache.get(NAME))
        await state["started"].wait()  # the load has read the old value
        state["gate"] = None
        values["contoso--db"] = new
        cache.invalidate(NAME)
        if read == "after-it-lands":
            gate.set()
            await first
        assert (await asyncio.wait_for(cache.get(NAME), 10)).value == new  # guard: no hang
        gate.set()
        assert (await first).value == old
        entry = cache.peek(NAME)
        assert entry is not None and entry.value == new
        assert (await cache.get(NAME)).value == new and state["calls"] == 2

    asyncio.run(main())


def test_store_invalidate_during_a_load_does_not_memoise_the_old_value(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    old, new = secret_value("pre-rotation"), secret_value("rotated")
    values = {"contoso--db": old}
    gate = threading.Event()
    started = threading.Event()
    config = StoreConfig(environment_fallback=False, dotenv_path=None, local_settings_path=None)
    store = SecretStore(config, clock=clock)

    def lookup(name: SecretName) -> tuple[str, str] | None:
        value = values.get(name.vault_name)
        if not started.is_set():
            started.set()
            assert gate.wait(10), "test gate never opened"
        return None if value is None else (value, "fake")

    assert store._core.local is not None
    store._core.local.lookup = lookup  # type: ignore[method-assign]
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(store.get("db", org="contoso")))
    reader.start()
    assert started.wait(10)
    values["contoso--db"] = new
    store.invalidate("db", org="contoso")
    assert store.get("db", org="contoso") == new
    gate.set()
    reader.join()
    assert first == [old]  # began before invalidate(): it may answer the old value...
    assert store.get("db", org="contoso") == new  # ...but not leave it in the memo


def test_async_store_invalidate_during_a_load_does_not_memoise_the_old_value(
    clock: Any, secret_value: Callable[[str], str]
) -> None:
    old, new = secret_value("pre-rotation"), secret_value("rotated")
    values = {"contoso--db": old}
    gate = asyncio.Event()
    loader, state = async_source(values, gate)
    config = StoreConfig(environment_fallback=False, dotenv_path=None, local_settings_path=None)

    async def main() -> None:
        store = AsyncSecretStore(config, clock=clock)
        store._cache = AsyncSecretCache(loader, config=config.cache, clock=clock)
        first = asyncio.ensure_future(store.get("db", org="contoso"))
        await state["started"].wait()
        state["gate"] = None
        values["contoso--db"] = new
        store.invalidate("db", org="contoso")
        assert await asyncio.wait_for(store.get("db", org="contoso"), 10) == new
        gate.set()
        assert await first == old
        assert await store.get("db", org="contoso") == new

    asyncio.run(main())
