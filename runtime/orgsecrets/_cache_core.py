"""The cache's rules, without I/O, threads or tasks.

:class:`CacheCore` decides what a read does (serve, refresh in the
background, load) and what a load's outcome leaves behind (a fresh entry, a
stale entry served while the vault fails, a remembered failure). The
thread-based :class:`~orgsecrets.cache.SecretCache` and the asyncio
:class:`~orgsecrets.cache.AsyncSecretCache` only add single-flight around it,
so both behave the same by construction and the rules are unit-tested with a
fake clock.

Timeline of one entry (monotonic seconds)::

    loaded_at ... fresh_until ... expires_at ........... stale_until
    |  FRESH: served  | REFRESH_AHEAD  | EXPIRED: load; if the vault fails,
    |  as is          | served, plus a | serve the old result (warning) until
    |                 | background     | stale_until, then raise
    |                 | refresh        |

``fresh_until`` equals ``expires_at`` unless refresh-ahead is on. After a
failed refresh the entry is replaced by one whose ``fresh_until`` is the end
of an exponential backoff, so a failing vault is asked at most once per
backoff period per secret.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from typing import Final, final

from .config import CacheConfig
from .errors import VaultError
from .naming import SecretName

__all__ = ["CacheCore", "CacheEntry", "EntryKind", "Loaded", "ReadState"]

Clock = Callable[[], float]


class EntryKind(enum.Enum):
    """What a cache entry knows about a secret."""

    FOUND = "found"
    """The source returned a value."""
    NOT_FOUND = "not-found"
    """The source said the secret does not exist (negative entry)."""
    FAILED = "failed"
    """The source failed and there was no earlier result to fall back on."""


class ReadState(enum.Enum):
    """What a read of one cache key must do now."""

    FRESH = "fresh"
    REFRESH_AHEAD = "refresh-ahead"
    EXPIRED = "expired"
    MISS = "miss"


@final
class Loaded:
    """A source's answer for one name: a value (or None for "not found") and where from."""

    __slots__ = ("source", "value")

    def __init__(self, value: str | None, source: str) -> None:
        self.value = value
        self.source = source

    def __repr__(self) -> str:
        return f"Loaded(found={self.value is not None}, source={self.source!r})"


@final
class CacheEntry:
    """One cached secret. Immutable once published; its ``repr`` never shows the value."""

    __slots__ = (
        "error",
        "expires_at",
        "failures",
        "fresh_until",
        "kind",
        "loaded_at",
        "name",
        "source",
        "stale_until",
        "value",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: EntryKind,
        value: str | None,
        source: str,
        loaded_at: float,
        fresh_until: float,
        expires_at: float,
        stale_until: float,
        failures: int = 0,
        error: VaultError | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.value = value
        self.source = source
        self.loaded_at = loaded_at
        self.fresh_until = fresh_until
        self.expires_at = expires_at
        self.stale_until = stale_until
        self.failures = failures
        self.error = error

    @property
    def found(self) -> bool:
        return self.kind is EntryKind.FOUND

    @property
    def is_stale(self) -> bool:
        """True if this entry holds an old result served because a refresh failed."""
        return self.error is not None and self.kind is not EntryKind.FAILED

    def __repr__(self) -> str:
        return (
            f"CacheEntry(name={self.name!r}, kind={self.kind.value}, source={self.source!r}, "
            f"failures={self.failures}, expires_at={self.expires_at:.3f})"
        )


FOREVER: Final = math.inf


class CacheCore:
    """Cache state and rules. Not thread-safe for writes: the shells serialise them.

    Reads of :attr:`entries` need no lock (a dict lookup is atomic and entries
    are never mutated after publication).
    """

    def __init__(
        self,
        config: CacheConfig,
        *,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._rng = rng if rng is not None else random.Random()
        self.entries: dict[str, CacheEntry] = {}

    @staticmethod
    def key(name: SecretName) -> str:
        """The cache key of a name: Key Vault compares names case-insensitively."""
        return name.vault_name.lower()

    @staticmethod
    def state(entry: CacheEntry | None, now: float) -> ReadState:
        """What a read at ``now`` must do with ``entry``."""
        if entry is None:
            return ReadState.MISS
        if now < entry.fresh_until:
            return ReadState.FRESH
        if now < entry.expires_at and entry.kind is not EntryKind.FAILED:
            return ReadState.REFRESH_AHEAD
        return ReadState.EXPIRED

    @staticmethod
    def servable_stale(entry: CacheEntry | None, now: float) -> bool:
        """True if ``entry`` is expired but its result may still be served while refreshing."""
        return (
            entry is not None
            and entry.kind is not EntryKind.FAILED
            and now >= entry.expires_at
            and now < entry.stale_until
        )

    @staticmethod
    def slow_refresh_warning(entry: CacheEntry, now: float, waited_s: float) -> str:
        """The warning logged when a stale result is served because its refresh is slow."""
        return (
            f"{_serving_stale(entry, now)} because refreshing it has not answered within "
            f"stale_wait_s={waited_s:g}; the refresh goes on"
        )

    def _ttl(self) -> float:
        cfg = self.config
        if cfg.ttl_jitter_ratio:
            return cfg.ttl_s * self._rng.uniform(1.0 - cfg.ttl_jitter_ratio, 1.0)
        return cfg.ttl_s

    def backoff_s(self, failures: int) -> float:
        """How long to wait before asking the vault again after ``failures`` in a row."""
        cfg = self.config
        exponent = min(max(failures - 1, 0), 62)
        return min(cfg.error_backoff_initial_s * (2.0**exponent), cfg.error_backoff_max_s)

    def _publish(self, key: str, entry: CacheEntry) -> CacheEntry:
        entries = self.entries
        entries.pop(key, None)  # re-insert at the end: eviction is oldest-loaded first
        entries[key] = entry
        excess = len(entries) - self.config.max_entries
        if excess > 0:
            for old in list(entries)[:excess]:
                del entries[old]
        return entry

    def on_loaded(self, key: str, name: SecretName, loaded: Loaded, now: float) -> CacheEntry:
        """Record a successful load (a value, or "not found") and return the new entry."""
        return self._publish(key, self._loaded_entry(name, loaded, now))

    def superseded(self, name: SecretName, outcome: Loaded | VaultError, now: float) -> CacheEntry:
        """The entry for the callers of a load that :meth:`invalidate` overtook; not published.

        Its result may predate a rotation, so it must not be cached: those
        callers (who asked before the invalidation) get it, later reads load
        again. A failure becomes a FAILED entry, so they get the error.
        """
        if isinstance(outcome, Loaded):
            return self._loaded_entry(name, outcome, now)
        retry_at = now + self.backoff_s(1)
        return CacheEntry(
            name=name.vault_name,
            kind=EntryKind.FAILED,
            value=None,
            source="",
            loaded_at=now,
            fresh_until=retry_at,
            expires_at=retry_at,
            stale_until=retry_at,
            failures=1,
            error=outcome,
        )

    def _loaded_entry(self, name: SecretName, loaded: Loaded, now: float) -> CacheEntry:
        cfg = self.config
        if loaded.value is not None:
            kind = EntryKind.FOUND
            expires_at = now + self._ttl()
        else:
            kind = EntryKind.NOT_FOUND
            expires_at = now + min(cfg.negative_ttl_s, cfg.ttl_s)
        fresh_until = expires_at
        if cfg.refresh_ahead_s and kind is EntryKind.FOUND:
            fresh_until = max(now, expires_at - cfg.refresh_ahead_s)
        return CacheEntry(
            name=name.vault_name,
            kind=kind,
            value=loaded.value,
            source=loaded.source,
            loaded_at=now,
            fresh_until=fresh_until,
            expires_at=expires_at,
            stale_until=expires_at + cfg.max_stale_s,
        )

    def on_failed(self, key: str, name: SecretName, error: VaultError, now: float) -> CacheEntry:
        """Record a failed load and return what to serve.

        If the previous entry's result may still be served (``now`` before its
        ``stale_until``), the new entry keeps that result, marked stale, until
        the end of the backoff. Otherwise it is a FAILED entry that re-raises
        ``error`` until the end of the backoff.
        """
        previous = self.entries.get(key)
        failures = (previous.failures if previous is not None else 0) + 1
        retry_at = now + self.backoff_s(failures)
        if (
            previous is not None
            and previous.kind is not EntryKind.FAILED
            and now < previous.stale_until
        ):
            return self._publish(
                key,
                CacheEntry(
                    name=previous.name,
                    kind=previous.kind,
                    value=previous.value,
                    source=previous.source,
                    loaded_at=previous.loaded_at,
                    fresh_until=min(retry_at, previous.stale_until),
                    expires_at=previous.expires_at,
                    stale_until=previous.stale_until,
                    failures=failures,
                    error=error,
                ),
            )
        return self._publish(
            key,
            CacheEntry(
                name=name.vault_name,
                kind=EntryKind.FAILED,
                value=None,
                source=previous.source if previous is not None else "",
                loaded_at=now,
                fresh_until=retry_at,
                expires_at=retry_at,
                stale_until=retry_at,
                failures=failures,
                error=error,
            ),
        )

    def invalidate(self, key: str | None = None) -> None:
        """Forget one key, or everything (the shells also forget the loads in flight)."""
        if key is None:
            self.entries.clear()
        else:
            self.entries.pop(key, None)

    @staticmethod
    def stale_warning(entry: CacheEntry, now: float) -> str:
        """The warning logged when a stale result is served. Names the secret, never the value."""
        return (
            f"{_serving_stale(entry, now)} because refreshing it failed "
            f"({type(entry.error).__name__}: {entry.error}); {entry.failures} failure(s) in a row"
        )

    @staticmethod
    def served(entry: CacheEntry) -> CacheEntry:
        """Return ``entry`` for serving, or raise the error a FAILED entry remembers."""
        if entry.kind is EntryKind.FAILED:
            error = entry.error
            assert error is not None
            raise error.with_traceback(None)
        return entry


def _serving_stale(entry: CacheEntry, now: float) -> str:
    """How a stale-result warning begins: what is served, of which secret, how stale."""
    past = max(0.0, now - entry.expires_at)
    left = max(0.0, entry.stale_until - now)
    what = "value" if entry.found else "'not found' answer"
    return (
        f"serving the cached {what} of secret {entry.name!r} "
        f"({past:.0f} s past its expiry, at most {left:.0f} s more)"
    )
