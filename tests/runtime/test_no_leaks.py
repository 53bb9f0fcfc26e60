"""No secret value in any log record, exception text or repr.

Every runtime test is already checked by the autouse ``debug_log_capture``
fixture (root logger at DEBUG, azure-core and urllib3 included). This test
runs every scenario in one place against the emulator, collects every
exception, repr and record, and checks them all, so a leak is caught even
where a scenario's own test does not look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    CacheConfig,
    EmulatorSettings,
    OrgSecretsError,
    SecretStore,
    StoreConfig,
)


def test_every_scenario_is_leak_free(
    emulator: Any, vault: Any, secret_value: Any, debug_log_capture: Any, clock: Any
) -> None:
    values = {
        "contoso--db": secret_value("leak-org"),
        "GLOBAL--db": secret_value("leak-global"),
        "GLOBAL--smtp": secret_value("leak-smtp"),
    }
    seeder = emulator.secret_client(vault, "sync")
    for name, value in values.items():
        seeder.set_secret(name, value)
    seeder.close()

    texts: list[str] = []
    import traceback

    def attempt(call: Any) -> Any:
        try:
            return call()
        except (OrgSecretsError, KeyError) as exc:
            texts.append("".join(traceback.format_exception(exc)) + repr(exc) + str(exc))
            return None

    config = StoreConfig(
        vault_url=vault.uri,
        emulator=EmulatorSettings(ca_path=emulator.ca_path),
        retry_backoff_factor_s=0.01,
        cache=CacheConfig(ttl_s=60, ttl_jitter_ratio=0, max_stale_s=120),
    )
    store = SecretStore(config, credential=emulator.credential("app"), clock=clock)
    outsider = SecretStore(config, credential=emulator.credential("outsider"))
    try:
        got = [
            store.get("db", org="contoso"),
            store.get("db", org="fabrikam"),
            store.get("smtp", org="contoso"),
        ]
        assert got == [values["contoso--db"], values["GLOBAL--db"], values["GLOBAL--smtp"]]
        attempt(lambda: store.get("absent", org="contoso"))
        attempt(lambda: store.get("bad_name"))
        attempt(lambda: outsider.get("db", org="contoso"))
        texts.append(repr(outsider.health()))
        texts.append(repr(store.prefetch("contoso")))
        texts.append(repr(store.health()))
        emulator.set_faults(vault.name, outage=True)
        try:
            clock.advance(61)
            assert store.get("db", org="contoso") == values["contoso--db"]  # stale, warned
            clock.advance(200)
            attempt(lambda: store.get("db", org="contoso"))
            texts.append(repr(store.health()))
        finally:
            emulator.clear_faults(vault.name)
        emulator.set_faults(vault.name, error_rate=1.0, statuses=(429,), retry_after_s=0)
        try:
            clock.advance(1000)
            store.invalidate()
            attempt(lambda: store.get("smtp"))
        finally:
            emulator.clear_faults(vault.name)
        texts.append(repr(store))
        texts.append(repr(store._cache))
        texts += [repr(e) for e in store._cache._core.entries.values()]
        texts += [repr(r) for r in store._memo.values()]

        async def aio() -> None:
            credential = emulator.async_credential("app")
            async with credential, AsyncSecretStore(config, credential=credential) as astore:
                assert await astore.get("db", org="contoso") == values["contoso--db"]
                texts.append(repr(astore))
                texts.append(repr(await astore.prefetch("contoso")))
                try:
                    await astore.get("absent")
                except KeyError as exc:
                    texts.append(str(exc) + repr(exc))

        asyncio.run(aio())
    finally:
        store.close()
        outsider.close()

    records = debug_log_capture.records
    assert any(r.name.startswith("azure") for r in records), "DEBUG capture saw the SDK"
    assert any(r.levelno == logging.WARNING and r.name == "orgsecrets" for r in records)
    everything = "\n".join(texts) + "\n".join(r.getMessage() for r in records)
    for value in values.values():
        assert value not in everything
    assert "contoso--db" in everything  # the names are there, so the check looks at the right text


def test_the_leak_detector_detects(secret_value: Any, assert_no_leak: Any) -> None:
    value = secret_value("canary")
    with pytest.raises(AssertionError):
        assert_no_leak(RuntimeError(f"text with {value} inside"))
    with pytest.raises(AssertionError):
        assert_no_leak(RuntimeError("clean").with_traceback(None).__class__(repr([value])))
    assert_no_leak(RuntimeError("clean text"))


@pytest.mark.parametrize("kind", ["entry", "resolved", "loaded"])
def test_reprs_hide_values(kind: str, secret_value: Any) -> None:
    from orgsecrets._cache_core import CacheEntry, EntryKind, Loaded
    from orgsecrets.store import _Resolved

    value = secret_value("repr")
    obj: object
    if kind == "entry":
        obj = CacheEntry(
            name="GLOBAL--x",
            kind=EntryKind.FOUND,
            value=value,
            source="s",
            loaded_at=0,
            fresh_until=1,
            expires_at=1,
            stale_until=2,
        )
    elif kind == "resolved":
        obj = _Resolved(value, time.monotonic())
    else:
        obj = Loaded(value, "s")
    assert value not in repr(obj) and value not in str(obj)
