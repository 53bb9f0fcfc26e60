"""Caches in front of a source: single-flight, stale-if-error, refresh-ahead.

:class:`SecretCache` (threads) and :class:`AsyncSecretCache` (asyncio) are
twins around the same :class:`~orgsecrets._cache_core.CacheCore`; they differ
only in how concurrent loads of one name are collapsed into one call:

* threads: the first caller loads; the others wait on a
  :class:`concurrent.futures.Future` registered under a lock;
* tasks: one task loads; every caller awaits a shielded future, so a
  cancelled caller does not cancel the load the others wait for.

A fresh read takes no lock and makes no copy: a dict lookup, a clock read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ._cache_core import CacheCore, CacheEntry, Clock, EntryKind, Loaded, ReadState
from .config import CacheConfig
from .errors import PermissionDeniedError, VaultError
from .naming import SecretName

__all__ = ["AsyncSecretCache", "CacheEntry", "EntryKind", "Loaded", "SecretCache"]

logger = logging.getLogger("orgsecrets")

Loader = Callable[[SecretName], Loaded]
AsyncLoader = Callable[[SecretName], Awaitable[Loaded]]


def _may_serve_stale(error: VaultError) -> bool:
    # A denial is the vault's current answer, not an outage: a revoked role
    # must take effect, so it is never papered over with an old value.
    return not isinstance(error, PermissionDeniedError)


def _record_outcome(
    core: CacheCore,
    key: str,
    name: SecretName,
    outcome: Loaded | VaultError,
) -> CacheEntry:
    """Apply a load's outcome to the core and log what needs logging."""
    now = core.clock()
    if isinstance(outcome, Loaded):
        return core.on_loaded(key, name, outcome, now)
    if not _may_serve_stale(outcome):
        core.invalidate(key)
        previous = None
    else:
        previous = core.entries.get(key)
    entry = core.on_failed(key, name, outcome, now)
    if entry.is_stale:
        logger.warning("%s", core.stale_warning(entry, now))
    elif previous is not None and previous.kind is not EntryKind.FAILED:
        note = (
            f"the cached result of secret {name.vault_name!r} is no longer served: it expired "
            f"{now - previous.expires_at:.0f} s ago, beyond max_stale_s="
            f"{core.config.max_stale_s:g}"
        )
        outcome.add_note(note)
        logger.error("%s (%s: %s)", note, type(outcome).__name__, outcome)
    return entry


class SecretCache:
    """A thread-safe cache in front of a blocking ``loader``.

    :param loader: returns :class:`Loaded` for a name (value None: not found)
        and raises :class:`~orgsecrets.errors.VaultError` on failure.
    :keyword config: TTLs, staleness and bounds.
    :keyword clock: monotonic seconds; injectable for tests.
    :keyword rng: source of TTL jitter; injectable for tests.
    """

    def __init__(
        self,
        loader: Loader,
        *,
        config: CacheConfig | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._loader = loader
        self._core = CacheCore(config or CacheConfig(), clock=clock, rng=rng)
        self._lock = threading.Lock()
        self._flights: dict[str, Future[CacheEntry]] = {}
        self._background: ThreadPoolExecutor | None = None

    @property
    def config(self) -> CacheConfig:
        return self._core.config

    def __len__(self) -> int:
        return len(self._core.entries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entries={len(self._core.entries)})"

    def peek(self, name: SecretName) -> CacheEntry | None:
        """The entry held for ``name``, fresh or not, without loading anything."""
        return self._core.entries.get(CacheCore.key(name))

    def get(self, name: SecretName) -> CacheEntry:
        """The entry for ``name``: FOUND or NOT_FOUND, loading it if needed.

        :raises VaultError: the load failed and no earlier result may be served.
        """
        core = self._core
        key = name.vault_name.lower()
        entry = core.entries.get(key)
        state = core.state(entry, core.clock())
        if state is ReadState.FRESH:
            assert entry is not None
            return core.served(entry)
        if state is ReadState.REFRESH_AHEAD:
            assert entry is not None
            self._start_background_refresh(key, name)
            return entry
        return self._load(key, name, force=False)

    def refresh(self, name: SecretName) -> CacheEntry:
        """Load ``name`` now (joining a load already in flight) and return the entry."""
        return self._load(CacheCore.key(name), name, force=True)

    def prime(self, name: SecretName, loaded: Loaded) -> CacheEntry:
        """Record ``loaded`` for ``name`` as if a load had returned it (used by prefetch)."""
        key = CacheCore.key(name)
        with self._lock:
            return _record_outcome(self._core, key, name, loaded)

    def invalidate(self, name: SecretName | None = None) -> None:
        """Forget ``name`` (after a rotation), or every entry."""
        with self._lock:
            self._core.invalidate(None if name is None else CacheCore.key(name))

    def close(self) -> None:
        """Stop the background refresh thread, if one was started."""
        executor, self._background = self._background, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _load(self, key: str, name: SecretName, *, force: bool) -> CacheEntry:
        core = self._core
        with self._lock:
            if not force:
                entry = core.entries.get(key)
                if core.state(entry, core.clock()) in (ReadState.FRESH, ReadState.REFRESH_AHEAD):
                    assert entry is not None
                    return core.served(entry)
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leader:
            return core.served(flight.result())
        return core.served(self._fly(key, name, flight))

    def _fly(self, key: str, name: SecretName, flight: Future[CacheEntry]) -> CacheEntry:
        try:
            try:
                outcome: Loaded | VaultError = self._loader(name)
            except VaultError as error:
                outcome = error
            with self._lock:
                entry = _record_outcome(self._core, key, name, outcome)
                del self._flights[key]
        except BaseException as unexpected:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_exception(unexpected)
            raise
        flight.set_result(entry)
        return entry

    def _start_background_refresh(self, key: str, name: SecretName) -> None:
        with self._lock:
            if key in self._flights:
                return
            flight: Future[CacheEntry] = Future()
            self._flights[key] = flight
            if self._background is None:
                self._background = ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="orgsecrets-refresh"
                )
            executor = self._background
        executor.submit(self._fly_quietly, key, name, flight)

    def _fly_quietly(self, key: str, name: SecretName, flight: Future[CacheEntry]) -> None:
        try:
            self._fly(key, name, flight)
        except Exception:  # pragma: no cover - the loader contract is VaultError only
            logger.exception("background refresh of secret %r failed", name.vault_name)


class AsyncSecretCache:
    """The asyncio twin of :class:`SecretCache`; use it from one event loop.

    :param loader: a coroutine function returning :class:`Loaded`, raising
        :class:`~orgsecrets.errors.VaultError` on failure.
    """

    def __init__(
        self,
        loader: AsyncLoader,
        *,
        config: CacheConfig | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._loader = loader
        self._core = CacheCore(config or CacheConfig(), clock=clock, rng=rng)
        self._flights: dict[str, asyncio.Future[CacheEntry]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> CacheConfig:
        return self._core.config

    def __len__(self) -> int:
        return len(self._core.entries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entries={len(self._core.entries)})"

    def peek(self, name: SecretName) -> CacheEntry | None:
        """The entry held for ``name``, fresh or not, without loading anything."""
        return self._core.entries.get(CacheCore.key(name))

    async def get(self, name: SecretName) -> CacheEntry:
        """The entry for ``name``: FOUND or NOT_FOUND, loading it if needed.

        :raises VaultError: the load failed and no earlier result may be served.
        """
        core = self._core
        key = name.vault_name.lower()
        entry = core.entries.get(key)
        state = core.state(entry, core.clock())
        if state is ReadState.FRESH:
            assert entry is not None
            return core.served(entry)
        if state is ReadState.REFRESH_AHEAD:
            assert entry is not None
            self._start_flight(key, name)
            return entry
        return core.served(await asyncio.shield(self._start_flight(key, name)))

    async def refresh(self, name: SecretName) -> CacheEntry:
        """Load ``name`` now (joining a load already in flight) and return the entry."""
        key = CacheCore.key(name)
        return self._core.served(await asyncio.shield(self._start_flight(key, name)))

    def prime(self, name: SecretName, loaded: Loaded) -> CacheEntry:
        """Record ``loaded`` for ``name`` as if a load had returned it (used by prefetch)."""
        return _record_outcome(self._core, CacheCore.key(name), name, loaded)

    def invalidate(self, name: SecretName | None = None) -> None:
        """Forget ``name`` (after a rotation), or every entry."""
        self._core.invalidate(None if name is None else CacheCore.key(name))

    async def close(self) -> None:
        """Wait for background refreshes still running."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_flight(self, key: str, name: SecretName) -> asyncio.Future[CacheEntry]:
        flight = self._flights.get(key)
        if flight is None:
            loop = asyncio.get_running_loop()
            flight = self._flights[key] = loop.create_future()
            task = loop.create_task(self._fly(key, name, flight))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return flight

    async def _fly(self, key: str, name: SecretName, flight: asyncio.Future[CacheEntry]) -> None:
        try:
            try:
                outcome: Loaded | VaultError = await self._loader(name)
            except VaultError as error:
                outcome = error
            entry = _record_outcome(self._core, key, name, outcome)
        except BaseException as unexpected:
            self._flights.pop(key, None)
            if not flight.done():
                if isinstance(unexpected, asyncio.CancelledError):
                    flight.cancel()
                else:
                    flight.set_exception(unexpected)
                    # Callers may all have gone (cancelled): do not let asyncio
                    # complain that nobody retrieved the exception.
                    flight.exception()
            if isinstance(unexpected, Exception):
                return
            raise
        self._flights.pop(key, None)
        if not flight.done():
            flight.set_result(entry)
