"""The runtime against the emulator: the real SecretClient (sync and aio) over HTTPS.

Nothing here mocks the SDK. The app reads as the ``app`` managed identity
(Key Vault Secrets User); secrets are seeded by ``sync`` (Secrets Officer).
Backend calls are counted in the emulator's audit log. Retry backoff is
shortened (``retry_backoff_factor_s``) so tests stay quick; the retry
*count* is the production one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    AuthenticationFailedError,
    EmulatorSettings,
    HealthStatus,
    LocalFallback,
    PermissionDeniedError,
    SecretNotFoundError,
    SecretStore,
    StoreConfig,
    ThrottledError,
    VaultUnreachableError,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def config_for(emulator: Any, vault: Any, **overrides: Any) -> StoreConfig:
    base: dict[str, Any] = {
        "vault_url": vault.uri,
        "emulator": EmulatorSettings(ca_path=emulator.ca_path),
        "retry_backoff_factor_s": 0.01,
    }
    base.update(overrides)
    return StoreConfig(**base)


@pytest.fixture
def seed(emulator: Any, vault: Any) -> Iterator[Callable[[str, str], None]]:
    client = emulator.secret_client(vault, "sync")

    def put(name: str, value: str) -> None:
        client.set_secret(name, value)

    yield put
    client.close()


@pytest.fixture
def app_store(emulator: Any, vault: Any) -> Iterator[Callable[..., SecretStore]]:
    made: list[SecretStore] = []

    def build(identity: str = "app", clock: Any = time.monotonic, **overrides: Any) -> SecretStore:
        store = SecretStore(
            config_for(emulator, vault, **overrides),
            credential=emulator.credential(identity),
            clock=clock,
        )
        made.append(store)
        return store

    yield build
    for store in made:
        store.close()


def gets(emulator: Any, vault: Any, secret: str | None = None, since: float = 0.0) -> list[Any]:
    """SecretGet records of authenticated calls (the challenge round trip excluded)."""
    return [
        r
        for r in emulator.audit(vault=vault.name, operation="SecretGet", since=since)
        if r.identity and (secret is None or r.secret.lower() == secret.lower())
    ]


def test_org_hit_global_fallback_and_not_found(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any, assert_no_leak: Any
) -> None:
    org_v, global_v, other_v = secret_value("org"), secret_value("global"), secret_value("g2")
    seed("contoso--db-password", org_v)
    seed("GLOBAL--db-password", global_v)
    seed("GLOBAL--smtp", other_v)
    store = app_store()
    assert store.get("db-password", org="contoso") == org_v
    assert store.get("db-password", org="fabrikam") == global_v
    assert store.get("db-password") == global_v
    assert store.get("smtp", org="contoso") == other_v
    with pytest.raises(SecretNotFoundError) as caught:
        store.get("nope", org="contoso")
    text = str(caught.value)
    assert "'contoso--nope'" in text and "'GLOBAL--nope'" in text and vault.uri in text
    assert_no_leak(caught.value)
    # Everything above is cached: repeating it makes no call.
    before = len(gets(emulator, vault))
    for _ in range(3):
        store.get("db-password", org="contoso")
        store.get("db-password", org="fabrikam")
        with pytest.raises(KeyError):
            store.get("nope", org="contoso")
    assert len(gets(emulator, vault)) == before
    assert {r.identity for r in gets(emulator, vault)} == {"app"}


def test_async_org_hit_global_fallback_and_not_found(
    emulator: Any, vault: Any, seed: Any, secret_value: Any, assert_no_leak: Any
) -> None:
    org_v, global_v = secret_value("aorg"), secret_value("aglobal")
    seed("contoso--api-key", org_v)
    seed("GLOBAL--api-key", global_v)

    async def scenario() -> None:
        credential = emulator.async_credential("app")
        async with (
            credential,
            AsyncSecretStore(config_for(emulator, vault), credential=credential) as store,
        ):
            assert await store.get("api-key", org="contoso") == org_v
            assert await store.get("api-key", org="fabrikam") == global_v
            with pytest.raises(SecretNotFoundError) as caught:
                await store.get("missing", org="contoso")
            assert_no_leak(caught.value)
            assert (await store.health()).status is HealthStatus.OK

    asyncio.run(scenario())


def test_async_store_reuses_its_tls_connections(
    emulator: Any, vault: Any, seed: Any, secret_value: Any
) -> None:
    # azure-core's aiohttp transport would build an SSL context per request
    # for a CA file, and aiohttp pools per context: one TLS connection per call.
    for i in range(20):
        seed(f"contoso--reuse-{i}", secret_value(f"reuse-{i}"))
    before = emulator.connections_accepted(vault)

    async def scenario() -> None:
        credential = emulator.async_credential("app")
        async with (
            credential,
            AsyncSecretStore(config_for(emulator, vault), credential=credential) as store,
        ):
            for i in range(20):
                await store.get(f"reuse-{i}", org="contoso")

    asyncio.run(scenario())
    assert emulator.connections_accepted(vault) - before <= 2


def test_configured_from_the_environment_with_default_credential(
    emulator: Any, vault: Any, seed: Any, secret_value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = secret_value("env-configured")
    seed("GLOBAL--from-env", value)
    for key, val in emulator.identity_env("app").items():
        monkeypatch.setenv(key, val)
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", vault.uri)
    monkeypatch.setenv("KEYVAULT_EMULATOR_CA", emulator.ca_path)
    import orgsecrets

    orgsecrets.reset_default_stores()
    try:
        assert orgsecrets.get("from-env", org="contoso") == value
        assert orgsecrets.default_store().config.uses_emulator

        async def scenario() -> str:
            store = orgsecrets.default_async_store()
            try:
                return await orgsecrets.aget("from-env", org="contoso")
            finally:
                await store.close()

        assert asyncio.run(scenario()) == value
    finally:
        orgsecrets.reset_default_stores()


def test_permission_denied_names_vault_operation_and_role(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any, assert_no_leak: Any
) -> None:
    seed("GLOBAL--private", secret_value("private"))
    store = app_store(identity="outsider")
    with pytest.raises(PermissionDeniedError) as caught:
        store.get("private", org="contoso")
    error = caught.value
    assert error.role == "Key Vault Secrets User"
    assert vault.uri in str(error) and "contoso--private" in str(error)
    assert "Key Vault Secrets User" in str(error)
    assert_no_leak(error)
    report = store.health()
    assert report.status is HealthStatus.PERMISSION_DENIED and not report.ok
    # The app identity reads but cannot write (Secrets User): the SDK gets a 403.
    from azure.core.exceptions import HttpResponseError

    writer = emulator.secret_client(vault, "app")
    with pytest.raises(HttpResponseError) as denied:
        writer.set_secret("GLOBAL--private", "x")
    assert denied.value.status_code == 403
    writer.close()


def test_five_retries_really_happen(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any
) -> None:
    seed("GLOBAL--flaky", secret_value("flaky"))
    store = app_store(cache=__import__("orgsecrets").CacheConfig(ttl_s=0.0, max_stale_s=0.0))
    store.get("flaky")  # token and challenge done
    since = time.time()
    emulator.set_faults(vault.name, error_rate=1.0, statuses=(503,), retry_after_s=0)
    try:
        store.invalidate()
        with pytest.raises(VaultUnreachableError) as caught:
            store.get("flaky")
    finally:
        emulator.clear_faults(vault.name)
    assert caught.value.status == 503
    # Faults strike before authentication, so these records name no identity.
    attempts = [
        r
        for r in emulator.audit(vault=vault.name, operation="SecretGet", since=since)
        if r.secret.lower() == "global--flaky" and r.status == 503
    ]
    assert len(attempts) == 6  # the first try and 5 retries


def test_injected_5xx_and_429_are_absorbed_by_retries(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any
) -> None:
    values = {f"GLOBAL--item-{i}": secret_value(f"item{i}") for i in range(20)}
    for name, value in values.items():
        seed(name, value)
    store = app_store()
    since = time.time()
    emulator.set_faults(
        vault.name, error_rate=0.3, statuses=(500, 503, 429), retry_after_s=0, seed=3
    )
    try:
        for i in range(20):
            assert store.get(f"item-{i}") == values[f"GLOBAL--item-{i}"]
    finally:
        emulator.clear_faults(vault.name)
    statuses = {r.status for r in emulator.audit(vault=vault.name, since=since)}
    assert statuses & {500, 503, 429}, "faults were injected"


def test_throttling_after_every_retry_is_a_throttled_error(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any, clock: Any
) -> None:
    seed("GLOBAL--hot", secret_value("hot"))
    store = app_store(clock=clock)
    emulator.set_faults(vault.name, error_rate=1.0, statuses=(429,), retry_after_s=0)
    try:
        with pytest.raises(ThrottledError):
            store.get("hot")
    finally:
        emulator.clear_faults(vault.name)
    with pytest.raises(ThrottledError):
        store.get("hot")  # remembered for the backoff: the vault is not asked again
    clock.advance(1.5)
    assert store.get("hot")


def test_stale_if_error_through_an_outage_then_clear_error(
    emulator: Any,
    vault: Any,
    seed: Any,
    app_store: Any,
    secret_value: Any,
    clock: Any,
    debug_log_capture: Any,
    assert_no_leak: Any,
) -> None:
    value = secret_value("outage")
    seed("contoso--conn", value)
    cache = __import__("orgsecrets").CacheConfig(
        ttl_s=60, ttl_jitter_ratio=0, max_stale_s=600, error_backoff_initial_s=5
    )
    store = app_store(clock=clock, cache=cache)
    assert store.get("conn", org="contoso") == value
    emulator.set_faults(vault.name, outage=True)
    try:
        clock.advance(61)
        assert store.get("conn", org="contoso") == value
        warnings = [
            r.getMessage()
            for r in debug_log_capture.records
            if r.levelno == logging.WARNING and r.name == "orgsecrets"
        ]
        assert any("contoso--conn" in w and "past its expiry" in w for w in warnings)
        clock.advance(300)
        assert store.get("conn", org="contoso") == value
        clock.advance(400)  # beyond max_stale_s
        with pytest.raises(VaultUnreachableError) as caught:
            store.get("conn", org="contoso")
        assert any("max_stale_s=600" in note for note in caught.value.__notes__)
        assert_no_leak(caught.value)
    finally:
        emulator.clear_faults(vault.name)
    clock.advance(30)  # past the error backoff
    assert store.get("conn", org="contoso") == value


def test_local_fallback_when_unreachable_is_opt_in(
    emulator: Any,
    vault: Any,
    seed: Any,
    app_store: Any,
    secret_value: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    local = secret_value("local")
    monkeypatch.setenv("GLOBAL__OFFLINE", local)
    emulator.set_faults(vault.name, outage=True)
    try:
        strict = app_store(dotenv_path=None, local_settings_path=tmp_path / "none.json")
        with pytest.raises(VaultUnreachableError):
            strict.get("offline")
        lenient = app_store(
            local_fallback=LocalFallback.WHEN_UNREACHABLE,
            dotenv_path=None,
            local_settings_path=tmp_path / "none.json",
        )
        assert lenient.get("offline", org="contoso") == local
    finally:
        emulator.clear_faults(vault.name)


def test_single_flight_100_threads(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any
) -> None:
    value = secret_value("cold")
    seed("GLOBAL--cold", value)
    store = app_store()
    store.health()  # token and challenge done, so only the get is counted
    emulator.set_faults(vault.name, latency_ms=300)
    barrier = threading.Barrier(100)
    results: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        barrier.wait()
        try:
            results.append(store.get("cold", org="contoso"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(100)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        emulator.clear_faults(vault.name)
    assert not errors and results == [value] * 100
    assert len(gets(emulator, vault, "GLOBAL--cold")) == 1
    assert len(gets(emulator, vault, "contoso--cold")) == 1


def test_single_flight_100_tasks(emulator: Any, vault: Any, seed: Any, secret_value: Any) -> None:
    value = secret_value("acold")
    seed("GLOBAL--acold", value)

    async def scenario() -> list[str]:
        credential = emulator.async_credential("app")
        async with (
            credential,
            AsyncSecretStore(config_for(emulator, vault), credential=credential) as store,
        ):
            await store.health()
            emulator.set_faults(vault.name, latency_ms=300)
            try:
                return await asyncio.gather(*(store.get("acold") for _ in range(100)))
            finally:
                emulator.clear_faults(vault.name)

    assert asyncio.run(scenario()) == [value] * 100
    assert len(gets(emulator, vault, "GLOBAL--acold")) == 1


def test_prefetch_loads_org_and_global_concurrently(
    emulator: Any, vault: Any, seed: Any, app_store: Any, secret_value: Any
) -> None:
    expected = {}
    for i in range(15):
        expected[f"contoso--p{i}"] = secret_value(f"po{i}")
        expected[f"GLOBAL--g{i}"] = secret_value(f"pg{i}")
        seed(f"fabrikam--p{i}", secret_value(f"pf{i}"))
    for name, value in expected.items():
        seed(name, value)
    store = app_store()
    result = store.prefetch("contoso")
    assert sorted(result.loaded) == sorted(expected) and not result.failed
    assert all(v not in repr(result) for v in expected.values())
    since = time.time()
    for i in range(15):
        assert store.get(f"p{i}", org="contoso") == expected[f"contoso--p{i}"]
        assert store.get(f"g{i}", org="contoso") == expected[f"GLOBAL--g{i}"]
    assert gets(emulator, vault, since=since) == []  # all served from the prefetched cache
    again = store.prefetch("contoso")
    assert not again.loaded and len(again.already_cached) == 30

    async def scenario() -> None:
        credential = emulator.async_credential("app")
        async with (
            credential,
            AsyncSecretStore(config_for(emulator, vault), credential=credential) as astore,
        ):
            aresult = await astore.prefetch("contoso")
            assert sorted(aresult.loaded) == sorted(expected)

    asyncio.run(scenario())


def test_health_states(emulator: Any, vault: Any, app_store: Any, seed: Any) -> None:
    seed("GLOBAL--h", "x")
    ok = app_store().health()
    assert ok.status is HealthStatus.OK and ok.ok and ok.latency_s > 0
    assert ok.as_dict()["status"] == "ok"

    assert app_store(identity="outsider").health().status is HealthStatus.PERMISSION_DENIED

    class WrongAudience:
        """A real emulator token, minted for Resource Manager: the vault answers 401."""

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            token = emulator.mint_token("app", "https://management.azure.com")
            return AccessToken(token, int(time.time()) + 3600)

    auth_store = SecretStore(config_for(emulator, vault), credential=WrongAudience())
    report = auth_store.health()
    assert report.status is HealthStatus.AUTHENTICATION_FAILED, report
    with pytest.raises(AuthenticationFailedError):
        auth_store.get("h")
    auth_store.close()

    emulator.set_faults(vault.name, outage=True)
    try:
        assert app_store().health().status is HealthStatus.UNREACHABLE
    finally:
        emulator.clear_faults(vault.name)

    throttled = app_store()
    emulator.set_throttling(vault.name, enabled=True, others_per_10s=2)
    try:
        statuses = [throttled.health().status for _ in range(4)]
    finally:
        emulator.set_throttling(vault.name, enabled=False)
    assert HealthStatus.THROTTLED in statuses
