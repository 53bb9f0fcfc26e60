"""Caches in front of a source: single-flight, stale-if-error, refresh-ahead.

:class:`SecretCache` (threads) and :class:`AsyncSecretCache` (asyncio) are
twins around the same :class:`~orgsecrets._cache_core.CacheCore`; they differ
only in how concurrent loads of one name are collapsed into one call:

* threads: the first caller loads; the others wait on a
  :class:`concurrent.futures.Future` registered under a lock;
* tasks: one task loads; every caller awaits a shielded future, so a
  cancelled caller does not cancel the load the others wait for.

What they share beyond the core sits in :class:`_CacheShell`: what a read
serves without waiting, what a finished wait means, how a flight settles or
is abandoned, invalidation and priming. The twins keep only the I/O: who
runs a load and how a caller waits for it.

A fresh read takes no lock and makes no copy: a dict lookup, a clock read.

Every flight registered in ``_flights`` is resolved, whatever happens to the
work behind it: a background refresh that ``close()`` cancels before it runs,
or a load task cancelled before or while it runs, is *abandoned*: its flight
is removed and resolved with :class:`_FlightAbandoned`, and the callers that
joined it start (or join) a new load instead of waiting forever.

Invalidation and loads in flight: the flight registered for a key is that
key's current generation. ``invalidate()`` forgets the flight along with the
entry, so a read after it starts a new load instead of joining one that may
have read the vault before a rotation; and a flight publishes its outcome only
if it is still the registered one (checked under the lock, threads; in the
same step, tasks). A superseded flight still answers the callers that joined
it (they asked before the invalidation), with an entry that is not cached.

After a fork, the child's :class:`SecretCache` keeps its entries but starts
with a new lock, no load in flight and no background threads (see
:mod:`orgsecrets._after_fork`): a child never waits on a load that a parent's
thread was running. The asyncio cache (:mod:`orgsecrets._async_cache`,
imported only when used, so that a sync app never imports asyncio) is not
reset: an event loop does not survive a fork.

After ``close()`` both caches keep working, without background work: fresh
reads are served, a read in the refresh-ahead window is served as is (no
background refresh is started; the read after expiry loads), and a miss or an
expired entry is loaded by the caller, as a blocking call (threads) or an
awaited one (asyncio).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _after_fork
from ._cache_core import CacheCore, CacheEntry, Clock, EntryKind, Loaded, ReadState
from .config import CacheConfig
from .errors import PermissionDeniedError, VaultError
from .naming import SecretName

if TYPE_CHECKING:
    from ._async_cache import AsyncSecretCache, _AsyncFlight

__all__ = ["AsyncSecretCache", "CacheEntry", "EntryKind", "Loaded", "SecretCache"]

logger = logging.getLogger("orgsecrets")

Loader = Callable[[SecretName], Loaded]
AsyncLoader = Callable[[SecretName], Awaitable[Loaded]]


class _FlightAbandoned(Exception):
    """Resolves a flight whose load was cancelled before it produced an outcome.

    Never reaches a caller of the caches: whoever joined the flight loads again.
    """


class _Flight(Future[CacheEntry]):
    """A load in flight (threads), with when it started, in real monotonic seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.started_at = time.monotonic()


def _stale_wait_left(flight: _Flight | _AsyncFlight, stale_wait_s: float) -> float:
    # Measured from the flight's start, so while one refresh hangs only the
    # first readers wait; later ones get the stale value at once.
    return max(0.0, flight.started_at + stale_wait_s - time.monotonic())


def _serve_stale_while_slow(core: CacheCore, entry: CacheEntry) -> CacheEntry:
    logger.warning("%s", core.slow_refresh_warning(entry, core.clock(), core.config.stale_wait_s))
    return entry


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


FlightT = TypeVar("FlightT", _Flight, "_AsyncFlight")
LoaderT = TypeVar("LoaderT", Loader, AsyncLoader)


class _CacheShell(Generic[LoaderT, FlightT]):
    """What both cache twins share around the :class:`CacheCore`.

    :param loader: returns :class:`Loaded` for a name (value None: not found)
        and raises :class:`~orgsecrets.errors.VaultError` on failure; a
        coroutine function for the asyncio twin.
    :keyword config: TTLs, staleness and bounds.
    :keyword clock: monotonic seconds; injectable for tests.
    :keyword rng: source of TTL jitter; injectable for tests.
    """

    _lock: Any
    """A ``threading.Lock`` (threads), or a no-op context (one event loop needs none)."""

    def __init__(
        self,
        loader: LoaderT,
        *,
        config: CacheConfig | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._loader: LoaderT = loader
        self._core = CacheCore(config or CacheConfig(), clock=clock, rng=rng)
        self._flights: dict[str, FlightT] = {}
        self._closed = False
        self._generation = 0
        self._start()

    def _start(self) -> None:
        """Set up what the twin needs for its I/O: a lock, background threads or tasks."""
        raise NotImplementedError

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

    @property
    def generation(self) -> int:
        """Bumped by every :meth:`invalidate`; see :meth:`prime`."""
        return self._generation

    def prime(
        self, name: SecretName, loaded: Loaded, *, if_generation: int | None = None
    ) -> CacheEntry | None:
        """Record ``loaded`` for ``name`` as if a load had returned it (used by prefetch).

        With ``if_generation``, only if no :meth:`invalidate` ran since that
        :attr:`generation` was read (else None: the answer may predate it).
        """
        key = CacheCore.key(name)
        with self._lock:
            if if_generation is not None and if_generation != self._generation:
                return None
            return _record_outcome(self._core, key, name, loaded)

    def invalidate(self, name: SecretName | None = None) -> None:
        """Forget ``name`` (after a rotation), or every entry, and the loads in flight.

        A load already in flight does not publish its (possibly pre-rotation)
        outcome; the next read starts a new load.
        """
        with self._lock:
            self._generation += 1
            if name is None:
                self._flights.clear()
                self._core.invalidate()
            else:
                key = CacheCore.key(name)
                self._flights.pop(key, None)
                self._core.invalidate(key)

    def _served_now(self, key: str, name: SecretName) -> CacheEntry | None:
        """The hit path: the entry a read serves without waiting, or None (load it).

        In the refresh-ahead window that is the current entry, and a
        background refresh starts (unless closed).
        """
        core = self._core
        entry = core.entries.get(key)
        state = core.state(entry, core.clock())
        if state is ReadState.FRESH:
            assert entry is not None
            return core.served(entry)
        if state is ReadState.REFRESH_AHEAD:
            assert entry is not None
            if not self._closed:
                self._refresh_in_background(key, name)
            return entry
        return None

    def _refresh_in_background(self, key: str, name: SecretName) -> None:
        raise NotImplementedError

    def _before_load(self, key: str, force: bool) -> tuple[CacheEntry | None, CacheEntry | None]:
        """``(entry to serve now, None)`` or ``(None, stale entry to serve if the load is slow)``.

        Call with the lock held. Forced loads (refresh, prefetch) serve nothing now.
        """
        if force:
            return None, None
        core = self._core
        entry = core.entries.get(key)
        now = core.clock()
        if core.state(entry, now) in (ReadState.FRESH, ReadState.REFRESH_AHEAD):
            assert entry is not None
            return core.served(entry), None
        if not self._closed and core.servable_stale(entry, now):
            return None, entry  # wait for the refresh only so long, then serve this
        return None, None

    def _wait_bound(self, flight: FlightT, stale: CacheEntry | None) -> float | None:
        """How long a caller waits for ``flight``: forever, unless it may serve ``stale``."""
        return None if stale is None else _stale_wait_left(flight, self._core.config.stale_wait_s)

    def _after_wait_failed(
        self, flight: FlightT, stale: CacheEntry | None, error: Exception
    ) -> CacheEntry | None:
        """What a wait for ``flight`` that raised ``error`` serves; None: load again.

        Abandoned flights never ran: the caller loads (or joins a newer
        flight). A wait that ran out serves the stale entry while the load
        goes on. Anything else is raised.
        """
        if isinstance(error, _FlightAbandoned):
            return None
        if not isinstance(error, TimeoutError) or stale is None:
            raise error  # not our bound: the loader's own
        if not flight.done():
            return _serve_stale_while_slow(self._core, stale)
        # Done just as the wait ran out (or the loader raised TimeoutError):
        # its own outcome, read once more.
        try:
            return self._core.served(flight.result())
        except _FlightAbandoned:
            return None

    def _settle(
        self, key: str, name: SecretName, flight: FlightT, outcome: Loaded | VaultError
    ) -> CacheEntry:
        """The entry a finished load leaves; published only if ``flight`` is still registered."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
                return _record_outcome(self._core, key, name, outcome)
        # invalidate() forgot this flight
        return self._core.superseded(name, outcome, self._core.clock())

    def _fail(self, key: str, flight: FlightT, error: BaseException) -> None:
        """Remove ``flight`` (if still registered) and resolve it with ``error``, if unresolved.

        The exception counts as retrieved: whoever joined it may all have gone.
        """
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        if not flight.done():
            flight.set_exception(error)
            flight.exception()

    def _abandon(self, key: str, flight: FlightT) -> None:
        """Resolve ``flight``, whose load will never run, so that those who joined it load again."""
        self._fail(key, flight, _FlightAbandoned(key))


class SecretCache(_CacheShell[Loader, _Flight]):
    """A thread-safe cache in front of a blocking ``loader``."""

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._background: ThreadPoolExecutor | None = None
        _after_fork.register(self)

    def _reset_after_fork(self) -> None:
        # In a forked child: the threads running these flights, holding the
        # lock or serving the executor were not copied. Cached entries stay.
        self._lock = threading.Lock()
        self._flights = {}
        self._background = None

    def get(self, name: SecretName) -> CacheEntry:
        """The entry for ``name``: FOUND or NOT_FOUND, loading it if needed.

        :raises VaultError: the load failed and no earlier result may be served.
        """
        key = name.vault_name.lower()
        entry = self._served_now(key, name)
        return entry if entry is not None else self._load(key, name, force=False)

    def refresh(self, name: SecretName) -> CacheEntry:
        """Load ``name`` now (joining a load already in flight) and return the entry."""
        return self._load(CacheCore.key(name), name, force=True)

    def close(self) -> None:
        """Stop background refreshes: wait for the running ones, cancel the queued ones.

        A cancelled refresh's flight is resolved (whoever joined it loads
        again), so no read waits on it. The cache stays usable after close:
        see the module docstring. Idempotent.
        """
        with self._lock:
            self._closed = True
            executor, self._background = self._background, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _load(self, key: str, name: SecretName, *, force: bool) -> CacheEntry:
        while True:
            work: Future[None] | None = None
            with self._lock:
                ready, stale = self._before_load(key, force)
                if ready is not None:
                    return ready
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    if stale is not None:  # the refresh runs in the background, not here
                        work = self._submit_locked(key, name, flight)
            if work is not None:
                self._abandon_if_cancelled(key, flight, work)
            elif leader:
                return self._core.served(self._fly(key, name, flight))
            try:
                return self._core.served(flight.result(self._wait_bound(flight, stale)))
            except Exception as error:  # sorted out by _after_wait_failed
                served = self._after_wait_failed(flight, stale, error)
            if served is not None:
                return served

    def _fly(self, key: str, name: SecretName, flight: _Flight) -> CacheEntry:
        try:
            try:
                outcome: Loaded | VaultError = self._loader(name)
            except VaultError as error:
                outcome = error
            entry = self._settle(key, name, flight, outcome)
        except BaseException as unexpected:
            self._fail(key, flight, unexpected)
            raise
        flight.set_result(entry)
        return entry

    def _refresh_in_background(self, key: str, name: SecretName) -> None:
        with self._lock:
            if self._closed or key in self._flights:
                return
            flight = self._flights[key] = _Flight()
            work = self._submit_locked(key, name, flight)
        self._abandon_if_cancelled(key, flight, work)

    def _submit_locked(self, key: str, name: SecretName, flight: _Flight) -> Future[None]:
        """Run ``flight``'s load on the background threads. Call with the lock held.

        Under the lock, so close() (which takes the executor under the lock)
        cannot shut it down between the caller's check of ``_closed`` and here.
        """
        if self._background is None:
            self._background = ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="orgsecrets-refresh"
            )
        return self._background.submit(self._fly_quietly, key, name, flight)

    def _abandon_if_cancelled(self, key: str, flight: _Flight, work: Future[None]) -> None:
        def on_done(work: Future[None]) -> None:
            if work.cancelled():  # close() dropped it from the queue: _fly never runs
                self._abandon(key, flight)

        work.add_done_callback(on_done)

    def _fly_quietly(self, key: str, name: SecretName, flight: _Flight) -> None:
        try:
            self._fly(key, name, flight)
        except Exception:  # pragma: no cover - the loader contract is VaultError only
            logger.exception("background refresh of secret %r failed", name.vault_name)


def __getattr__(name: str) -> object:
    # The asyncio twin lives apart, so that the sync path never imports asyncio.
    if name == "AsyncSecretCache":
        from ._async_cache import AsyncSecretCache

        return AsyncSecretCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
