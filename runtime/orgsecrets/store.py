"""The facade apps use: :class:`SecretStore` and its asyncio twin :class:`AsyncSecretStore`.

``get(name, org=...)`` reads ``{org}--{name}``, then ``GLOBAL--{name}``,
through the cache, from Key Vault or (for local development) the local
sources.

The twins are thin loops around one pure core (as httpx's ``BaseClient``):
:class:`_StoreCore` holds the configuration, the resolution memo, and the
control flow of a miss, a prefetch and a health probe as step generators
(:mod:`orgsecrets._steps`); each twin answers the steps' requests with its
own I/O (threads and blocking calls, or ``await``), and nothing else.

The hit path is one dict lookup keyed by ``(name, org)`` and one monotonic
clock read; validation, fallback and single-flight happen on a miss only.

The memo has a generation: ``invalidate()`` first makes the cache forget the
names (and their loads in flight), then bumps the generation and clears the
memo. A resolution remembers its answer only if the generation it started in
is still current, so an answer read before a rotation, but returned after the
``invalidate()``, is not memoised for the rest of its TTL.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final
from urllib.parse import urlsplit

from . import _after_fork
from ._cache_core import CacheCore, CacheEntry, Loaded, ReadState
from ._steps import Steps, arun, run
from .cache import SecretCache
from .config import LocalFallback, StoreConfig, is_loopback_url
from .errors import (
    AuthenticationFailedError,
    ConfigurationError,
    PermissionDeniedError,
    SecretNotFoundError,
    ThrottledError,
    VaultError,
    VaultRequestError,
    VaultUnreachableError,
)
from .local_sources import LocalSources
from .naming import GLOBAL_SCOPE, SecretName, lookup_names, validate_org_id
from .references import KeyVaultReference, ReferencePolicy, is_reference, parse_reference

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential

    from ._async_cache import AsyncSecretCache
    from .keyvault import AsyncKeyVaultSource, KeyVaultSource

__all__ = ["AsyncSecretStore", "HealthReport", "HealthStatus", "PrefetchResult", "SecretStore"]

logger = logging.getLogger("orgsecrets")

Clock = Callable[[], float]


class HealthStatus(enum.Enum):
    """The outcome of :meth:`SecretStore.health`; each failure has its own member."""

    OK = "ok"
    LOCAL_ONLY = "local-only"
    MISCONFIGURED = "misconfigured"
    """Hosted in Azure (App Service, Functions) with no vault configured."""
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


class _Prefetch:
    """One prefetch's bookkeeping: which listed names to load, and the result at the end."""

    def __init__(
        self, cache: SecretCache | AsyncSecretCache, org: str | None, source: str, clock: Clock
    ) -> None:
        self.cache = cache
        self.org = org
        self.source = source
        self.clock = clock
        self.scopes = _StoreCore.prefetch_scopes(org)
        self.started = time.perf_counter()
        self.generation = cache.generation  # an invalidate() after this voids "not found"
        self.selected: list[SecretName] = []
        self.cached: list[str] = []
        self.todo: list[SecretName] = []

    def wants(self, name: SecretName) -> bool:
        """True if ``name`` (just listed) must be loaded now; notes what it is either way."""
        if name.scope.lower() not in self.scopes:
            return False
        self.selected.append(name)
        entry = self.cache.peek(name)
        if entry is not None and CacheCore.state(entry, self.clock()) is ReadState.FRESH:
            self.cached.append(name.vault_name)
            return False
        self.todo.append(name)
        return True

    def result(self, loaded_ok: Iterable[bool]) -> PrefetchResult:
        """Prime the org names known absent, and report; ``loaded_ok`` follows :attr:`todo`."""
        failed = [n.vault_name for n, ok in zip(self.todo, loaded_ok, strict=True) if not ok]
        _, absent = _StoreCore.plan_prefetch(self.selected, self.org, self.scopes)
        for n in absent:
            if self.cache.peek(n) is None:
                self.cache.prime(n, Loaded(None, self.source), if_generation=self.generation)
        return PrefetchResult(
            org=self.org,
            loaded=tuple(n.vault_name for n in self.todo if n.vault_name not in failed),
            already_cached=tuple(self.cached),
            failed=tuple(failed),
            elapsed_s=time.perf_counter() - self.started,
        )

    @staticmethod
    def failed(name: SecretName, error: VaultError) -> bool:
        logger.warning("prefetch of secret %r failed: %s", name.vault_name, error)
        return False


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
        self.refusal = config.local_refused
        """Why local sources must not be read (hosted in Azure with no vault), or None."""
        self.references = ReferencePolicy.for_config(config)
        self.reference_lock = threading.Lock()
        """Guards building the clients of the vaults references name (once each)."""

    def _reset_after_fork(self) -> None:
        self._memo_writes = threading.Lock()  # a parent's thread may have held it
        self.reference_lock = threading.Lock()

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

    def resolution(
        self, name: str, org: str | None, vault_description: str | None
    ) -> Steps[SecretName | KeyVaultReference, str]:
        """A miss of ``get(name, org)``: yields each candidate to read from the cache.

        Each candidate is answered with its :class:`CacheEntry`, or the
        :class:`VaultError` its read raised. With the local fallback while the
        vault is unreachable, a local Key Vault reference is yielded too (see
        :meth:`local_loading`).
        """
        generation = self.generation  # before any cache read
        candidates = lookup_names(name, org)
        fresh_until = math.inf
        unreachable: VaultUnreachableError | None = None
        for candidate in candidates:
            entry: CacheEntry | VaultError = yield candidate
            if isinstance(entry, VaultError):
                if not (
                    isinstance(entry, VaultUnreachableError) and self.fallback_when_unreachable
                ):
                    raise entry
                value = yield from self.local_fallback(candidate, entry)
                if value is not None:
                    return value
                unreachable = entry
                continue
            fresh_until = min(fresh_until, entry.fresh_until)
            if entry.value is not None and entry.found:
                self.remember((name, org), entry.value, fresh_until, generation)
                return entry.value
        if unreachable is not None:
            raise unreachable
        raise self.not_found(name, candidates, vault_description)

    def health_check(self, vault_url: str) -> Steps[None, HealthReport]:
        """A health probe: yields once, answered with None (the probe passed) or its error."""
        started = time.perf_counter()
        error: VaultError | None = yield None
        return self.health_from(error, time.perf_counter() - started, vault_url)

    def _local_sources(self) -> LocalSources:
        if self.refusal is not None:
            raise ConfigurationError(self.refusal)
        assert self.local is not None
        return self.local

    def local_names(self) -> list[SecretName]:
        """Every name the local sources hold (for prefetch); refused when hosted without a vault."""
        return self._local_sources().names() if self.local is not None else []

    def local_loading(self, name: SecretName) -> Steps[KeyVaultReference, Loaded]:
        """Load ``name`` from the local sources (the cache's loader without a vault).

        A Key Vault reference is yielded, to be answered with the vault's
        :class:`Loaded` (or error); its value is what is loaded.

        :raises ConfigurationError: hosted in Azure with no vault (see ``local_refused``).
        """
        local = self._local_sources()
        found = local.lookup(name)
        if found is None:
            return Loaded(None, " / ".join(local.descriptions))
        return (yield from self._resolved(name, *found))

    def _resolved(
        self, name: SecretName, value: str, source: str
    ) -> Steps[KeyVaultReference, Loaded]:
        """A local value as loaded: itself, or (a reference) the secret it names."""
        if not is_reference(value):
            return Loaded(value, source)
        reference = parse_reference(
            value, setting=name.env_var, source=source, policy=self.references
        )
        outcome: Loaded | VaultError = yield reference
        if isinstance(outcome, VaultError):
            # Name the setting, so the app's owner knows which one to fix.
            outcome.args = (f"the Key Vault reference in {reference.where}: {outcome}",)
            raise outcome
        if outcome.value is None:
            raise VaultRequestError(
                f"the Key Vault reference in {reference.where} names secret "
                f"{reference.secret_name!r}"
                + (f" version {reference.version!r}" if reference.version else "")
                + f" in {reference.vault_url}, which does not exist or is disabled",
                vault_url=reference.vault_url,
                operation=f"get secret {reference.secret_name!r}",
                status=404,
                code="SecretNotFound",
            )
        return Loaded(outcome.value, f"{outcome.source} (reference in {reference.where})")

    def local_fallback(
        self, name: SecretName, error: VaultUnreachableError
    ) -> Steps[KeyVaultReference, str | None]:
        """A local value for ``name`` while the vault is unreachable (opt-in), else None."""
        if not self.fallback_when_unreachable or self.local is None:
            return None
        found = self.local.lookup(name)
        if found is None:
            return None
        loaded = yield from self._resolved(name, *found)
        logger.warning(
            "Key Vault unreachable (%s); using secret %r from %s",
            type(error).__name__,
            name.vault_name,
            loaded.source,
        )
        return loaded.value

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
        if self.refusal is not None:
            return HealthReport(
                status=HealthStatus.MISCONFIGURED,
                reason=self.refusal,
                latency_s=0.0,
                vault_url=None,
            )
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


CredentialT = TypeVar("CredentialT")


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


class _StoreShell(Generic[CredentialT]):
    """What the twins share beyond the core: construction, the pure public methods, the repr.

    :param config: a :class:`StoreConfig`; default: :meth:`StoreConfig.from_env`.
    :keyword credential: any ``TokenCredential`` (``AsyncTokenCredential`` for the
        asyncio twin); default ``DefaultAzureCredential`` (closed with the store;
        an injected one is left open).
    :keyword clock: monotonic seconds, for tests.
    """

    _cache: SecretCache | AsyncSecretCache

    def __init__(
        self,
        config: StoreConfig | None = None,
        *,
        credential: CredentialT | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config if config is not None else StoreConfig.from_env()
        self._core = _StoreCore(self.config, clock)
        self._clock = clock
        self._memo = self._core.memo
        self._owned_credential: Any = None
        self._vault_description: str | None = None
        self._credential: Any = credential
        self._referenced: dict[str, Any] = {}
        """The sources of the vaults Key Vault references name, by vault URL."""
        self._open(credential)

    def _open(self, credential: CredentialT | None) -> None:
        """Build the vault source (if a vault is configured) and the cache."""
        raise NotImplementedError

    def _source_class(self) -> Any:
        """:class:`KeyVaultSource` or its asyncio twin (imported when first needed)."""
        raise NotImplementedError

    def _referenced_vault(self, reference: KeyVaultReference) -> Any:
        """The source for the vault ``reference`` names: the store's own, or one built once."""
        vault = getattr(self, "_vault", None)
        if vault is not None and _netloc(vault.vault_url) == _netloc(reference.vault_url):
            return vault
        with self._core.reference_lock:
            source = self._referenced.get(reference.vault_url)
            if source is None:
                config = self.config.with_changes(
                    vault_url=reference.vault_url,
                    emulator=self.config.emulator if is_loopback_url(reference.vault_url) else None,
                )
                source, owned = self._source_class().open(config, self._credential)
                if owned is not None:  # built once, for every referenced vault; closed with us
                    self._credential = self._owned_credential = owned
                self._referenced[reference.vault_url] = source
        return source

    @property
    def vault_url(self) -> str | None:
        return self.config.vault_url

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

    def _prefetch(self, org: str | None) -> _Prefetch:
        return _Prefetch(self._cache, org, self._vault_description or "local sources", self._clock)

    def __repr__(self) -> str:
        core = self._core.describe(self._vault_description)
        return f"{type(self).__name__}({core}, cache={self._cache!r})"


class SecretStore(_StoreShell["TokenCredential"]):
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

    _vault: KeyVaultSource | None
    _cache: SecretCache

    def _open(self, credential: TokenCredential | None) -> None:
        self._vault = None
        loader: Callable[[SecretName], Loaded] = self._local_load
        if self.config.vault_url is not None:
            from .keyvault import KeyVaultSource

            self._vault, self._owned_credential = KeyVaultSource.open(self.config, credential)
            self._vault_description = self._vault.description
            loader = self._vault.fetch
        self._cache = SecretCache(loader, config=self.config.cache, clock=self._clock)

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
        return run(self._core.resolution(name, org, self._vault_description), self._answer)

    def _answer(self, request: SecretName | KeyVaultReference) -> Any:
        if isinstance(request, KeyVaultReference):
            return self._read_reference(request)
        return self._cache.get(request)

    def _local_load(self, name: SecretName) -> Loaded:
        return run(self._core.local_loading(name), self._read_reference)

    def _read_reference(self, reference: KeyVaultReference) -> Loaded:
        vault: KeyVaultSource = self._referenced_vault(reference)
        return vault.read(reference.secret_name, version=reference.version)

    def _source_class(self) -> type[KeyVaultSource]:
        from .keyvault import KeyVaultSource

        return KeyVaultSource

    def prefetch(self, org: str | None = None) -> PrefetchResult:
        """Load every secret of ``org`` and every GLOBAL secret into the cache, concurrently.

        Lists the vault's secret properties (no values), then reads the
        selected names with at most ``cache.prefetch_concurrency`` in flight.
        A failed read is logged and reported, not raised.

        :raises VaultError: the listing itself failed.
        """
        plan = self._prefetch(org)
        listed: Iterable[SecretName] = (
            self._vault.iter_names() if self._vault else self._core.local_names()
        )
        workers = self.config.cache.prefetch_concurrency
        # Values are read while later pages are still being listed.
        with ThreadPoolExecutor(workers, thread_name_prefix="orgsecrets-prefetch") as pool:
            loads = [pool.submit(self._prefetch_one, n) for n in listed if plan.wants(n)]
        return plan.result(load.result() for load in loads)

    def _prefetch_one(self, name: SecretName) -> bool:
        try:
            self._cache.refresh(name)
        except VaultError as error:
            return _Prefetch.failed(name, error)
        return True

    def health(self) -> HealthReport:
        """Probe the vault: list one page of secret properties (no value), no retries.

        Requires ``secrets/readMetadata/action`` (Key Vault Secrets User).
        Never raises for vault failures: the report's ``status`` says which.
        """
        vault = self._vault
        if vault is None:
            return self._core.local_health()
        return run(self._core.health_check(vault.vault_url), lambda _: vault.probe())

    def close(self) -> None:
        """Close the vault client, the credential the store built, and background threads."""
        self._cache.close()
        for vault in [self._vault, *self._referenced.values()]:
            if vault is not None:
                vault.close()
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


class AsyncSecretStore(_StoreShell["AsyncTokenCredential"]):
    """The asyncio twin of :class:`SecretStore` (``azure.keyvault.secrets.aio``).

    Same methods, same behaviour; I/O methods are coroutines. Use it from one
    event loop, and ``await store.close()`` (or ``async with``) at the end.

    Example::

        async with AsyncSecretStore() as store:
            password = await store.get("db-password", org="contoso")
    """

    _vault: AsyncKeyVaultSource | None
    _cache: AsyncSecretCache

    def _open(self, credential: AsyncTokenCredential | None) -> None:
        from ._async_cache import AsyncSecretCache

        self._vault = None
        fetch = self._local_fetch
        if self.config.vault_url is not None:
            from .keyvault import AsyncKeyVaultSource

            self._vault, self._owned_credential = AsyncKeyVaultSource.open(self.config, credential)
            self._vault_description = self._vault.description
            fetch = self._vault.fetch
        self._cache = AsyncSecretCache(fetch, config=self.config.cache, clock=self._clock)

    async def _local_fetch(self, name: SecretName) -> Loaded:
        return await arun(self._core.local_loading(name), self._read_reference)

    async def _answer(self, request: SecretName | KeyVaultReference) -> Any:
        if isinstance(request, KeyVaultReference):
            return await self._read_reference(request)
        return await self._cache.get(request)

    async def _read_reference(self, reference: KeyVaultReference) -> Loaded:
        vault: AsyncKeyVaultSource = self._referenced_vault(reference)
        return await vault.read(reference.secret_name, version=reference.version)

    def _source_class(self) -> type[AsyncKeyVaultSource]:
        from .keyvault import AsyncKeyVaultSource

        return AsyncKeyVaultSource

    async def get(self, name: str, *, org: str | None = None) -> str:
        """See :meth:`SecretStore.get`."""
        hit = self._memo.get((name, org))
        if hit is not None and self._clock() < hit.fresh_until:
            return hit.value
        return await arun(self._core.resolution(name, org, self._vault_description), self._answer)

    async def prefetch(self, org: str | None = None) -> PrefetchResult:
        """See :meth:`SecretStore.prefetch`."""
        import asyncio

        plan = self._prefetch(org)
        limit = asyncio.Semaphore(self.config.cache.prefetch_concurrency)

        async def load(name: SecretName) -> bool:
            async with limit:
                try:
                    await self._cache.refresh(name)
                except VaultError as error:
                    return _Prefetch.failed(name, error)
                return True

        # Values are read while later pages are still being listed.
        loads = [asyncio.ensure_future(load(n)) async for n in self._listed() if plan.wants(n)]
        return plan.result(await asyncio.gather(*loads))

    async def _listed(self) -> AsyncIterator[SecretName]:
        if self._vault is not None:
            async for name in self._vault.iter_names():
                yield name
        else:
            for name in self._core.local_names():
                yield name

    async def health(self) -> HealthReport:
        """See :meth:`SecretStore.health`."""
        vault = self._vault
        if vault is None:
            return self._core.local_health()
        return await arun(self._core.health_check(vault.vault_url), lambda _: vault.probe())

    async def close(self) -> None:
        """See :meth:`SecretStore.close`."""
        await self._cache.close()
        for vault in [self._vault, *self._referenced.values()]:
            if vault is not None:
                await vault.close()
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
