"""The asyncio twin of :class:`~orgsecrets.cache.SecretCache` (see :mod:`orgsecrets.cache`).

Apart from the sync cache so that ``import orgsecrets`` and the sync path
never import :mod:`asyncio` (about 55 ms of a cold start); reached as
``orgsecrets.cache.AsyncSecretCache``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ._cache_core import CacheCore, CacheEntry, Loaded
from .cache import AsyncLoader, _CacheShell
from .errors import VaultError
from .naming import SecretName

__all__ = ["AsyncSecretCache"]


class _AsyncFlight(asyncio.Future[CacheEntry]):
    """A load in flight (tasks), with when it started, in real monotonic seconds."""

    def __init__(self, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.started_at = time.monotonic()


class AsyncSecretCache(_CacheShell[AsyncLoader, _AsyncFlight]):
    """The asyncio twin of :class:`SecretCache`; use it from one event loop."""

    def _start(self) -> None:
        self._lock = contextlib.nullcontext()
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, name: SecretName) -> CacheEntry:
        """See :meth:`SecretCache.get`."""
        key = name.vault_name.lower()
        entry = self._served_now(key, name)
        return entry if entry is not None else await self._load(key, name, force=False)

    async def refresh(self, name: SecretName) -> CacheEntry:
        """See :meth:`SecretCache.refresh`."""
        return await self._load(CacheCore.key(name), name, force=True)

    async def close(self) -> None:
        """Stop starting background refreshes and wait for the loads still running.

        If ``close()`` itself is cancelled (a timeout), the loads it waits for
        are cancelled too; their flights are resolved and their callers load
        again, so nothing waits on them. The cache stays usable after close:
        see the module docstring. Idempotent.
        """
        self._closed = True
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _load(self, key: str, name: SecretName, *, force: bool) -> CacheEntry:
        while True:
            ready, stale = self._before_load(key, force)
            if ready is not None:
                return ready
            flight = self._start_flight(key, name)
            bound = self._wait_bound(flight, stale)
            try:
                return self._core.served(await asyncio.wait_for(asyncio.shield(flight), bound))
            except Exception as error:  # sorted out by _after_wait_failed
                served = self._after_wait_failed(flight, stale, error)
            if served is not None:
                return served

    def _refresh_in_background(self, key: str, name: SecretName) -> None:
        self._start_flight(key, name)

    def _start_flight(self, key: str, name: SecretName) -> _AsyncFlight:
        flight = self._flights.get(key)
        if flight is None:
            loop = asyncio.get_running_loop()
            flight = self._flights[key] = _AsyncFlight(loop=loop)
            task = loop.create_task(self._fly(key, name, flight))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # A task cancelled before its first step never runs _fly at all.
            task.add_done_callback(lambda _: self._abandon_unresolved(key, flight))
        return flight

    def _abandon_unresolved(self, key: str, flight: _AsyncFlight) -> None:
        if not flight.done():
            self._abandon(key, flight)

    async def _fly(self, key: str, name: SecretName, flight: _AsyncFlight) -> None:
        try:
            try:
                outcome: Loaded | VaultError = await self._loader(name)
            except VaultError as error:
                outcome = error
            entry = self._settle(key, name, flight, outcome)
        except asyncio.CancelledError:
            # Cancelled (close() timed out, the loop is shutting down): the
            # task's done-callback abandons the flight, and callers load again.
            raise
        except BaseException as unexpected:
            self._fail(key, flight, unexpected)
            if isinstance(unexpected, Exception):
                return
            raise
        if not flight.done():
            flight.set_result(entry)
