"""The runtime while the identity endpoint accepts connections and never answers.

The store builds its own ``DefaultAzureCredential`` from ``IDENTITY_ENDPOINT``
/ ``IDENTITY_HEADER`` (the App Service managed identity protocol), pointed
at a loopback listener that accepts and stays silent; the vault is the
emulator. With an expired cache entry whose value may still be served
stale, ``get`` must return that value after at most ``stale_wait_s`` (the
refresh goes on in the background); without a cached value, the built
credential's own timeouts must end the read with a clear error instead of
azure-core's 300 s default. Every wait is bounded by a generous guard: the
tests assert that reads return, never how fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    CacheConfig,
    EmulatorSettings,
    SecretStore,
    StoreConfig,
    VaultError,
)
from orgsecrets.cache import Loaded
from orgsecrets.naming import secret_name

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

GUARD_S = 60.0
"""How long a read may take before the test calls it hung (a guard, not a timing assertion)."""


class SilentEndpoint:
    """Accepts connections on 127.0.0.1 and never answers, until :meth:`stop`."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self.accepted = threading.Event()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/msi/token"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted.set()

    def stop(self) -> None:
        """Close everything: the clients' hung reads end, so the stores can close."""
        self._stopped.set()
        # Wakes the accept() blocked in the other thread (close alone does
        # not) and resets the connections still in the backlog.
        with contextlib.suppress(OSError):  # already stopped
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in list(self._held):
            conn.close()


@pytest.fixture
def silent_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentEndpoint]:
    endpoint = SilentEndpoint()
    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", f"header-{uuid.uuid4().hex}")
    try:
        yield endpoint
    finally:
        endpoint.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config_for(emulator: Any, vault: Any, **changes: Any) -> StoreConfig:
    return StoreConfig(
        vault_url=vault.uri,
        emulator=EmulatorSettings(ca_path=emulator.ca_path),
        cache=CacheConfig(ttl_s=60, ttl_jitter_ratio=0, max_stale_s=600, stale_wait_s=0.5),
        retry_total=0,
        **changes,
    )


def returns_within_guard(call: Callable[[], str]) -> str:
    """``call()`` in a thread; fails the test if it has not returned within the guard."""
    result: list[str] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the test thread
            error.append(exc)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(GUARD_S)
    assert not reader.is_alive(), "get() stayed blocked on the hanging identity endpoint"
    if error:
        raise error[0]
    return result[0]


def test_expired_entry_is_served_stale_while_the_credential_hangs(
    emulator: Any, vault: Any, silent_identity: SilentEndpoint
) -> None:
    value = f"stale-{uuid.uuid4().hex}"
    clock = Clock()
    # Long timeouts, as azure-core's defaults: only stale_wait_s bounds the read.
    store = SecretStore(
        config_for(emulator, vault, connect_timeout_s=300, read_timeout_s=300), clock=clock
    )
    try:
        store._cache.prime(secret_name("db-password", "contoso"), Loaded(value, "primed"))
        clock.now += 61  # expired (no token either), well within max_stale_s
        readers = [
            threading.Thread(
                target=lambda: returns_within_guard(lambda: store.get("db-password", org="contoso"))
            )
            for _ in range(4)
        ]
        assert returns_within_guard(lambda: store.get("db-password", org="contoso")) == value
        assert silent_identity.accepted.wait(GUARD_S)  # the refresh did reach the endpoint
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(GUARD_S)
            assert not reader.is_alive()
        assert returns_within_guard(lambda: store.get("db-password", org="contoso")) == value
    finally:
        silent_identity.stop()
        store.close()


def test_async_expired_entry_is_served_stale_while_the_credential_hangs(
    emulator: Any, vault: Any, silent_identity: SilentEndpoint
) -> None:
    value = f"stale-aio-{uuid.uuid4().hex}"
    clock = Clock()

    async def scenario() -> list[str]:
        store = AsyncSecretStore(
            config_for(emulator, vault, connect_timeout_s=300, read_timeout_s=300), clock=clock
        )
        try:
            store._cache.prime(secret_name("db-password", "contoso"), Loaded(value, "primed"))
            clock.now += 61
            reads = [store.get("db-password", org="contoso") for _ in range(5)]
            return await asyncio.wait_for(asyncio.gather(*reads), GUARD_S)
        finally:
            silent_identity.stop()
            await store.close()

    assert asyncio.run(scenario()) == [value] * 5


def test_without_a_cached_value_the_built_credential_times_out(
    emulator: Any, vault: Any, silent_identity: SilentEndpoint
) -> None:
    store = SecretStore(config_for(emulator, vault, connect_timeout_s=2, read_timeout_s=2))
    try:
        with pytest.raises(VaultError) as caught:
            returns_within_guard(lambda: store.get("db-password", org="contoso"))
        assert "contoso--db-password" in str(caught.value)
    finally:
        silent_identity.stop()
        store.close()


def test_async_without_a_cached_value_the_built_credential_times_out(
    emulator: Any, vault: Any, silent_identity: SilentEndpoint
) -> None:
    async def scenario() -> None:
        store = AsyncSecretStore(config_for(emulator, vault, connect_timeout_s=2, read_timeout_s=2))
        try:
            with pytest.raises(VaultError):
                await asyncio.wait_for(store.get("db-password", org="contoso"), GUARD_S)
        finally:
            silent_identity.stop()
            await store.close()

    asyncio.run(scenario())
