"""The facade apps use: :class:`SecretStore` and its asyncio twin :class:`AsyncSecretStore`.

``get(name, org=...)`` reads ``{org}--{name}``, then ``GLOBAL--{name}``,
through the cache, from Key Vault or (for local development) the local
sources. The twins share :class:`_StoreCore` (name resolution memo, error
and report building) and differ only where I/O happens.

The hit path is one dict lookup keyed by ``(name, org)`` and one monotonic
clock read; validation, fallback and single-flight happen on a miss only.

The memo has a generation: ``invalidate()`` first makes the cache forget the
names (and their loads in flight), then bumps the generation and clears the
memo. A resolution remembers its answer only if the generation it started in
is still current, so an answer read before a rotation, but returned after the
``invalidate()``, is not memoised for the rest of its TTL.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, final

from . import _after_fork
from ._cache_core import CacheCore, Loaded, ReadState
from .cache import AsyncSecretCache, CacheEntry, SecretCache
from .config import LocalFallback, StoreConfig
from .errors import (
    AuthenticationFailedError,
    PermissionDeniedError,
    SecretNotFoundError,
    ThrottledError,
    VaultError,
    VaultUnreachableError,
)
from .local_sources import LocalSources
from .naming import GLOBAL_SCOPE, SecretName, lookup_names, validate_org_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential

    from .keyvault import AsyncKeyVaultSource, KeyVaultSource

__all__ = ["AsyncSecretStore", "HealthReport", "HealthStatus", "PrefetchResult", "SecretStore"]

logger = logging.getLogger("orgsecrets")

Clock = Callable[[], float]


class HealthStatus(enum.Enum):
    """The outcome of :meth:`SecretStore.health`; each failure has its own member."""

    OK = "ok"
    LOCAL_ONLY = "local-only"
    AUTHENTICATION_FAILED = "authentication-failed"
    PERMISSION_DENIED = "permission-denied"
    UNREACHABLE = "unreachable"
    THROTTLED = "throttled"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    """Whether the store can read its vault, why not, and how long the probe took."""

    status: HealthStatus
    reason: str
    latency_s: float
    vault_url: str | None

    @property
    def ok(self) -> bool:
        return self.status in (HealthStatus.OK, HealthStatus.LOCAL_ONLY)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for health endpoints."""
        return {
            "ok": self.ok,
            "status": self.status.value,
            "reason": self.reason,
            "latency_ms": round(self.latency_s * 1000.0, 3),
            "vault_url": self.vault_url,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefetchResult:
    """What :meth:`SecretStore.prefetch` did. Names only, never values."""

    org: str | None
    loaded: tuple[str, ...]
    """Vault names read now."""
    already_cached: tuple[str, ...]
    """Vault names that were fresh in the cache and left alone."""
    failed: tuple[str, ...]
    """Vault names whose read failed (each logged as a warning)."""
    elapsed_s: float


_ERROR_STATUS: Final = (
    (AuthenticationFailedError, HealthStatus.AUTHENTICATION_FAILED),
    (PermissionDeniedError, HealthStatus.PERMISSION_DENIED),
    (ThrottledError, HealthStatus.THROTTLED),
    (VaultUnreachableError, HealthStatus.UNREACHABLE),
)


@final
class _Resolved:
    """A memoised answer to ``get(name, org)``; its repr hides the value."""

    __slots__ = ("fresh_until", "value")

    def __init__(self, value: str, fresh_until: float) -> None:
        self.value = value
        self.fresh_until = fresh_until

    def __repr__(self) -> str:
        return f"_Resolved(fresh_until={self.fresh_until:.3f})"


class _StoreCore:
    """What both store twins share: configuration, the resolution memo, reports."""

    def __init__(self, config: StoreConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.memo: dict[tuple[str, str | None], _Resolved] = {}
        self.memo_limit = max(64, 2 * config.cache.max_entries)
        self.generation = 0
        """Bumped by :meth:`forget`; a resolution started in an older one is not memoised."""
        self._memo_writes = threading.Lock()  # misses and invalidate only; hits read lock-free
        _after_fork.register(self)
        self.local: LocalSources | None = None
        if config.vault_url is None or config.local_fallback is LocalFallback.WHEN_UNREACHABLE:
            self.local = LocalSources.default(
                environment=config.environment_fallback,
                dotenv_path=config.dotenv_path,
                local_settings_path=config.local_settings_path,
            )
        self.fallback_when_unreachable = (
            config.vault_url is not None and config.local_fallback is LocalFallback.WHEN_UNREACHABLE
        )

    def _reset_after_fork(self) -> None:
        self._memo_writes = threading.Lock()  # a parent's thread may have held it

    def remember(
        self, key: tuple[str, str | None], value: str, fresh_until: float, generation: int
    ) -> None:
        """Memoise an answer, unless :meth:`forget` ran since ``generation`` was read."""
        with self._memo_writes:
            if generation != self.generation:
                return  # the answer may predate a rotation: do not keep it
            memo = self.memo
            if len(memo) >= self.memo_limit:
                memo.clear()
            memo[key] = _Resolved(value, fresh_until)

    def forget(self) -> None:
        """Clear the memo and refuse answers resolved before now (after a cache invalidation)."""
        with self._memo_writes:
            self.generation += 1
            self.memo.clear()

    def local_loader(self, name: SecretName) -> Loaded:
        assert self.local is not None
        found = self.local.lookup(name)
        if found is None:
            return Loaded(None, " / ".join(self.local.descriptions))
        return Loaded(found[0], found[1])

    def local_fallback(self, name: SecretName, error: VaultUnreachableError) -> str | None:
        """A local value for ``name`` while the vault is unreachable (opt-in), else None."""
        if not self.fallback_when_unreachable or self.local is None:
            return None
        found = self.local.lookup(name)
        if found is None:
            return None
        logger.warning(
            "Key Vault unreachable (%s); using secret %r from %s",
            type(error).__name__,
            name.vault_name,
            found[1],
        )
        return found[0]

    def not_found(
        self, name: str, candidates: tuple[SecretName, ...], vault_description: str | None
    ) -> SecretNotFoundError:
        sources: list[str] = []
        if vault_description is not None:
            sources.append(vault_description)
        if self.local is not None and (vault_description is None or self.fallback_when_unreachable):
            sources.append(self.local.describe(candidates))
        return SecretNotFoundError(name, names=[c.vault_name for c in candidates], sources=sources)

    @staticmethod
    def prefetch_scopes(org: str | None) -> frozenset[str]:
        scopes = {GLOBAL_SCOPE.lower()}
        if org is not None:
            scopes.add(validate_org_id(org).lower())
        return frozenset(scopes)

    @staticmethod
    def plan_prefetch(
        listed: list[SecretName], org: str | None, scopes: frozenset[str]
    ) -> tuple[list[SecretName], list[SecretName]]:
        """The names to load, and the org names known absent (GLOBAL only) to prime as such."""
        selected = [n for n in listed if n.scope.lower() in scopes]
        if org is None:
            return selected, []
        present = {n.name.lower() for n in selected if not n.is_global}
        absent = [
            SecretName(org, n.name)
            for n in selected
            if n.is_global and n.name.lower() not in present
        ]
        return selected, absent

    def local_health(self) -> HealthReport:
        assert self.local is not None
        return HealthReport(
            status=HealthStatus.LOCAL_ONLY,
            reason="no vault configured; reading " + " / ".join(self.local.descriptions),
            latency_s=0.0,
            vault_url=None,
        )

    @staticmethod
    def health_from(error: VaultError | None, latency_s: float, vault_url: str) -> HealthReport:
        if error is None:
            return HealthReport(
                status=HealthStatus.OK,
                reason="listed secret properties",
                latency_s=latency_s,
                vault_url=vault_url,
            )
        status = HealthStatus.ERROR
        for kind, mapped in _ERROR_STATUS:
            if isinstance(error, kind):
                status = mapped
                break
        return HealthReport(
            status=status, reason=str(error), latency_s=latency_s, vault_url=vault_url
        )

    def describe(self, vault_description: str | None) -> str:
        where = vault_description or "local sources"
        return f"{where}, {len(self.memo)} memoised"


class SecretStore:
    """Read org and GLOBAL secrets: cached, single-flight, stale-if-error.

    :param config: a :class:`StoreConfig`; default: :meth:`StoreConfig.from_env`.
    :keyword credential: any ``TokenCredential``; default ``DefaultAzureCredential``
        (closed with the store; an injected one is left open).
    :keyword clock: monotonic seconds, for tests.

    Example::

        store = SecretStore()                       # AZURE_KEY_VAULT_URL from the environment
        password = store.get("db-password", org="contoso")

    Thread-safe. Use one store per process and keep it (it holds the cache).
    """

    def __init__(
        self,
        config: StoreConfig | None = None,
        *,
        credential: TokenCredential | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config if config is not None else StoreConfig.from_env()
        self._core = _StoreCore(self.config, clock)
        self._clock = clock
        self._memo = self._core.memo
        self._owned_credential: Any = None
        self._vault: KeyVaultSource | None = None
        if self.config.vault_url is not None:
            from .keyvault import KeyVaultSource, default_credential

            if credential is None:
                credential = self._owned_credential = default_credential(self.config)
            self._vault = KeyVaultSource(self.config, credential)
            loader: Callable[[SecretName], Loaded] = self._vault.fetch
        else:
            loader = self._core.local_loader
        self._cache = SecretCache(loader, config=self.config.cache, clock=clock)

    @property
    def vault_url(self) -> str | None:
        return self.config.vault_url

    def get(self, name: str, *, org: str | None = None) -> str:
        """The value of ``{org}--{name}``, else ``GLOBAL--{name}`` (GLOBAL only without org).

        Requires *Key Vault Secrets User* on the vault (``secrets/getSecret/action``).

        :raises InvalidSecretNameError: a bad name or org id (before any call).
        :raises SecretNotFoundError: no source has it (a ``KeyError``).
        :raises VaultError: the vault failed and no cached value may be served.
        """
        hit = self._memo.get((name, org))
        if hit is not None and self._clock() < hit.fresh_until:
            return hit.value
        return self._resolve(name, org)

    def _resolve(self, name: str, org: str | None) -> str:
        generation = self._core.generation  # before any cache read
        candidates = lookup_names(name, org)
        fresh_until = math.inf
        unreachable: VaultUnreachableError | None = None
        for candidate in candidates:
            try:
                entry = self._cache.get(candidate)
            except VaultUnreachableError as error:
                if not self._core.fallback_when_unreachable:
                    raise
                value = self._core.local_fallback(candidate, error)
                if value is not None:
                    return value
                unreachable = error
                continue
            fresh_until = min(fresh_until, entry.fresh_until)
            if entry.value is not None and entry.found:
                self._core.remember((name, org), entry.value, fresh_until, generation)
                return entry.value
        if unreachable is not None:
            raise unreachable
        raise self._core.not_found(
            name, candidates, self._vault.description if self._vault else None
        )

    def prefetch(self, org: str | None = None) -> PrefetchResult:
        """Load every secret of ``org`` and every GLOBAL secret into the cache, concurrently.

        Lists the vault's secret properties (no values), then reads the
        selected names with at most ``cache.prefetch_concurrency`` in flight.
        A failed read is logged and reported, not raised.

        :raises VaultError: the listing itself failed.
        """
        scopes = self._core.prefetch_scopes(org)
        started = time.perf_counter()
        generation = self._cache.generation  # an invalidate() after this voids "not found"
        names: Iterable[SecretName] = (
            self._vault.iter_names() if self._vault else self._local_names()
        )
        selected: list[SecretName] = []
        cached: list[str] = []
        pending: list[tuple[SecretName, Future[bool]]] = []
        workers = self.config.cache.prefetch_concurrency
        # Values are read while later pages are still being listed.
        with ThreadPoolExecutor(workers, thread_name_prefix="orgsecrets-prefetch") as pool:
            for n in names:
                if n.scope.lower() not in scopes:
                    continue
                selected.append(n)
                entry = self._cache.peek(n)
                if entry is not None and CacheCore.state(entry, self._clock()) is ReadState.FRESH:
                    cached.append(n.vault_name)
                else:
                    pending.append((n, pool.submit(self._prefetch_one, n)))
        todo = [n for n, _ in pending]
        failed = [n.vault_name for n, done in pending if not done.result()]
        _, absent = self._core.plan_prefetch(selected, org, scopes)
        source = self._vault.description if self._vault else "local sources"
        for n in absent:
            if self._cache.peek(n) is None:
                self._cache.prime(n, Loaded(None, source), if_generation=generation)
        return PrefetchResult(
            org=org,
            loaded=tuple(n.vault_name for n in todo if n.vault_name not in failed),
            already_cached=tuple(cached),
            failed=tuple(failed),
            elapsed_s=time.perf_counter() - started,
        )

    def _prefetch_one(self, name: SecretName) -> bool:
        try:
            self._cache.refresh(name)
        except VaultError as error:
            logger.warning("prefetch of secret %r failed: %s", name.vault_name, error)
            return False
        return True

    def _local_names(self) -> list[SecretName]:
        return self._core.local.names() if self._core.local else []

    def health(self) -> HealthReport:
        """Probe the vault: list one page of secret properties (no value), no retries.

        Requires ``secrets/readMetadata/action`` (Key Vault Secrets User).
        Never raises for vault failures: the report's ``status`` says which.
        """
        if self._vault is None:
            return self._core.local_health()
        started = time.perf_counter()
        error: VaultError | None = None
        try:
            self._vault.probe()
        except VaultError as exc:
            error = exc
        return self._core.health_from(error, time.perf_counter() - started, self._vault.vault_url)

    def invalidate(self, name: str | None = None, *, org: str | None = None) -> None:
        """Forget ``name`` for ``org`` (the org and GLOBAL entries), or everything.

        Call it after rotating a secret so the next ``get`` reads the new value,
        even if a read of the old one was in flight: that read's answer is
        neither cached nor memoised.
        """
        # The cache first, then the memo: a resolution that read the cache
        # before this call started in the old generation, so it cannot
        # memoise what it read.
        if name is None:
            self._cache.invalidate()
        else:
            for candidate in lookup_names(name, org):
                self._cache.invalidate(candidate)
        self._core.forget()

    def close(self) -> None:
        """Close the vault client, the credential the store built, and background threads."""
        self._cache.close()
        if self._vault is not None:
            self._vault.close()
        if self._owned_credential is not None:
            self._owned_credential.close()

    def __enter__(self) -> SecretStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        desc = self._vault.description if self._vault else None
        return f"SecretStore({self._core.describe(desc)}, cache={self._cache!r})"


class AsyncSecretStore:
    """The asyncio twin of :class:`SecretStore` (``azure.keyvault.secrets.aio``).

    Same methods, same behaviour; I/O methods are coroutines. Use it from one
    event loop, and ``await store.close()`` (or ``async with``) at the end.

    Example::

        async with AsyncSecretStore() as store:
            password = await store.get("db-password", org="contoso")
    """

    def __init__(
        self,
        config: StoreConfig | None = None,
        *,
        credential: AsyncTokenCredential | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config if config is not None else StoreConfig.from_env()
        self._core = _StoreCore(self.config, clock)
        self._clock = clock
        self._memo = self._core.memo
        self._owned_credential: Any = None
        self._vault: AsyncKeyVaultSource | None = None
        if self.config.vault_url is not None:
            from .keyvault import AsyncKeyVaultSource, default_async_credential

            if credential is None:
                credential = self._owned_credential = default_async_credential(self.config)
            self._vault = AsyncKeyVaultSource(self.config, credential)
            self._cache = AsyncSecretCache(self._vault.fetch, config=self.config.cache, clock=clock)
        else:
            self._cache = AsyncSecretCache(self._local_fetch, config=self.config.cache, clock=clock)

    async def _local_fetch(self, name: SecretName) -> Loaded:
        return self._core.local_loader(name)

    @property
    def vault_url(self) -> str | None:
        return self.config.vault_url

    async def get(self, name: str, *, org: str | None = None) -> str:
        """See :meth:`SecretStore.get`."""
        hit = self._memo.get((name, org))
        if hit is not None and self._clock() < hit.fresh_until:
            return hit.value
        return await self._resolve(name, org)

    async def _resolve(self, name: str, org: str | None) -> str:
        generation = self._core.generation  # before any cache read
        candidates = lookup_names(name, org)
        fresh_until = math.inf
        unreachable: VaultUnreachableError | None = None
        for candidate in candidates:
            try:
                entry: CacheEntry = await self._cache.get(candidate)
            except VaultUnreachableError as error:
                if not self._core.fallback_when_unreachable:
                    raise
                value = self._core.local_fallback(candidate, error)
                if value is not None:
                    return value
                unreachable = error
                continue
            fresh_until = min(fresh_until, entry.fresh_until)
            if entry.value is not None and entry.found:
                self._core.remember((name, org), entry.value, fresh_until, generation)
                return entry.value
        if unreachable is not None:
            raise unreachable
        raise self._core.not_found(
            name, candidates, self._vault.description if self._vault else None
        )

    async def prefetch(self, org: str | None = None) -> PrefetchResult:
        """See :meth:`SecretStore.prefetch`."""
        scopes = self._core.prefetch_scopes(org)
        started = time.perf_counter()
        generation = self._cache.generation  # an invalidate() after this voids "not found"
        limit = asyncio.Semaphore(self.config.cache.prefetch_concurrency)

        async def one(name: SecretName) -> bool:
            async with limit:
                try:
                    await self._cache.refresh(name)
                except VaultError as error:
                    logger.warning("prefetch of secret %r failed: %s", name.vault_name, error)
                    return False
                return True

        async def names() -> AsyncIterator[SecretName]:
            if self._vault is not None:
                async for name in self._vault.iter_names():
                    yield name
            elif self._core.local is not None:
                for name in self._core.local.names():
                    yield name

        selected: list[SecretName] = []
        cached: list[str] = []
        pending: list[tuple[SecretName, asyncio.Task[bool]]] = []
        # Values are read while later pages are still being listed.
        async for n in names():
            if n.scope.lower() not in scopes:
                continue
            selected.append(n)
            entry = self._cache.peek(n)
            if entry is not None and CacheCore.state(entry, self._clock()) is ReadState.FRESH:
                cached.append(n.vault_name)
            else:
                pending.append((n, asyncio.ensure_future(one(n))))
        outcomes = await asyncio.gather(*(task for _, task in pending))
        todo = [n for n, _ in pending]
        failed = [n.vault_name for (n, _), ok in zip(pending, outcomes, strict=True) if not ok]
        _, absent = self._core.plan_prefetch(selected, org, scopes)
        source = self._vault.description if self._vault else "local sources"
        for n in absent:
            if self._cache.peek(n) is None:
                self._cache.prime(n, Loaded(None, source), if_generation=generation)
        return PrefetchResult(
            org=org,
            loaded=tuple(n.vault_name for n in todo if n.vault_name not in failed),
            already_cached=tuple(cached),
            failed=tuple(failed),
            elapsed_s=time.perf_counter() - started,
        )

    async def health(self) -> HealthReport:
        """See :meth:`SecretStore.health`."""
        if self._vault is None:
            return self._core.local_health()
        started = time.perf_counter()
        error: VaultError | None = None
        try:
            await self._vault.probe()
        except VaultError as exc:
            error = exc
        return self._core.health_from(error, time.perf_counter() - started, self._vault.vault_url)

    def invalidate(self, name: str | None = None, *, org: str | None = None) -> None:
        """See :meth:`SecretStore.invalidate`."""
        if name is None:
            self._cache.invalidate()
        else:
            for candidate in lookup_names(name, org):
                self._cache.invalidate(candidate)
        self._core.forget()

    async def close(self) -> None:
        """See :meth:`SecretStore.close`."""
        await self._cache.close()
        if self._vault is not None:
            await self._vault.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    async def __aenter__(self) -> AsyncSecretStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        desc = self._vault.description if self._vault else None
        return f"AsyncSecretStore({self._core.describe(desc)}, cache={self._cache!r})"
