"""Rotation without waiting for the TTL, end to end on the emulator.

The sync (the tool's engine, as ``keyvault-platform sync`` runs it) writes a
new version; the emulator delivers ``SecretNewVersionCreated`` to a loopback
webhook; the webhook hands it to ``RotationEvents``; the app's store, which
caches for an hour, serves the new value on its next read. A second store
without the handler shows that the TTL alone would have kept the old value.
Also: the emulator's subscription handshakes, retries, refusals, and the
expiry events.
"""

from __future__ import annotations

import io
import textwrap
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import prepare, run_sync
from orgsecrets import CacheConfig, EmulatorSettings, SecretStore, StoreConfig
from orgsecrets.events import RotationEvents

from ..runtime.events_webhook import running_webhook

FINGERPRINT_KEY = "test-fingerprint-key-0123456789abcdefghijklmnop"
MANIFEST = """\
scope: acme
secrets:
  - name: db-password
    value: {env: DB_PASSWORD}
"""


def store_for(emulator: Any, vault: Any) -> SecretStore:
    return SecretStore(
        StoreConfig(
            vault_url=vault.uri,
            emulator=EmulatorSettings(ca_path=emulator.ca_path),
            retry_backoff_factor_s=0.01,
            cache=CacheConfig(ttl_s=3600.0, ttl_jitter_ratio=0.0),
        ),
        credential=emulator.credential("app"),
    )


def sync_value(emulator: Any, vault: Any, directory: Path, value: str) -> None:
    """One run of the sync engine, as the command runs it, making the vault hold ``value``."""
    (directory / "acme.yaml").write_text(textwrap.dedent(MANIFEST), encoding="utf-8")
    request = prepare(
        [directory],
        environ={"DB_PASSWORD": value, "SYNC_FINGERPRINT_KEY": FINGERPRINT_KEY},
        root=directory,
    )
    out = cli.Output(out=io.StringIO(), err=io.StringIO(), format="text")
    client = emulator.secret_client(vault, "sync")
    try:
        code, _, result = run_sync(request, client, out, plan_only=False, retry_base_s=0.05)
    finally:
        client.close()
    assert code == 0 and result is not None and not result.failed


@pytest.fixture
def subscribe(emulator: Any) -> Iterator[Callable[..., dict[str, Any]]]:
    names: list[str] = []

    def add(vault: Any, endpoint: str, **options: Any) -> dict[str, Any]:
        created = emulator.admin(
            "POST", "event-subscriptions", {"vault": vault.name, "endpoint": endpoint, **options}
        )
        names.append(created["name"])
        return dict(created)

    yield add
    for name in names:
        emulator.admin("DELETE", f"event-subscriptions?name={name}")


def subscription_state(emulator: Any, name: str) -> dict[str, Any]:
    for entry in emulator.admin("GET", "event-subscriptions")["value"]:
        if entry["name"] == name:
            return dict(entry)
    raise AssertionError(f"no subscription {name}")


def wait_state(emulator: Any, name: str, wanted: str, timeout_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = subscription_state(emulator, name)
        if state["provisioning_state"] == wanted or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


@pytest.mark.parametrize("schema", ["EventGridSchema", "CloudEventSchemaV1_0"])
def test_a_synced_rotation_is_served_within_a_second_despite_a_one_hour_ttl(
    emulator: Any, vault: Any, tmp_path: Path, secret_value: Any, subscribe: Any, schema: str
) -> None:
    emulator.set_throttling(vault.name, enabled=False)
    old, new = secret_value("old"), secret_value("new")
    sync_value(emulator, vault, tmp_path, old)
    with store_for(emulator, vault) as app, store_for(emulator, vault) as without_events:
        assert app.get("db-password", org="acme") == old
        assert without_events.get("db-password", org="acme") == old
        with running_webhook(RotationEvents(app)) as hook:
            created = subscribe(vault, hook.url, schema=schema)
            assert wait_state(emulator, created["name"], "Succeeded")["provisioning_state"] == (
                "Succeeded"
            )

            sync_value(emulator, vault, tmp_path, new)
            written = time.monotonic()
            while app.get("db-password", org="acme") != new and time.monotonic() - written < 1:
                time.sleep(0.005)
            served_after_s = time.monotonic() - written

            assert app.get("db-password", org="acme") == new, "not rotated within a second"
            assert served_after_s < 1.0
            assert without_events.get("db-password", org="acme") == old  # the TTL alone
            assert not hook.errors
            assert "Microsoft.KeyVault.SecretNewVersionCreated" in hook.event_types()
            notification = hook.deliveries[-1]
            assert notification["headers"]["aeg-event-type"] == "Notification"
            if schema == "CloudEventSchemaV1_0":
                assert notification["headers"]["content-type"].startswith(
                    "application/cloudevents+json"
                )
                assert notification["body"]["specversion"] == "1.0"
            else:
                assert isinstance(notification["body"], list)


def test_every_new_version_is_published_with_the_vaults_names(
    emulator: Any, vault: Any, subscribe: Any, secret_value: Any
) -> None:
    with running_webhook(None) as hook:
        # No handler: the webhook answers 200 but cannot echo the code, so validation fails.
        created = subscribe(vault, hook.url)
        assert wait_state(emulator, created["name"], "Failed")["provisioning_state"] == "Failed"
    with running_webhook(RotationEvents(_StoreStub(vault.uri))) as hook:
        created = subscribe(vault, hook.url)
        wait_state(emulator, created["name"], "Succeeded")
        client = emulator.secret_client(vault, "sync")
        try:
            first = client.set_secret("GLOBAL--smtp", secret_value("a"))
            second = client.set_secret("GLOBAL--smtp", secret_value("b"))
        finally:
            client.close()
        assert hook.wait_for(lambda d: len(d) >= 3)  # validation + two notifications
    events = [d["body"][0] for d in hook.deliveries[1:]]
    assert [e["data"]["Version"] for e in events] == [
        first.properties.version,
        second.properties.version,
    ]
    for event, written in zip(events, (first, second), strict=True):
        assert event["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated"
        assert event["subject"] == "GLOBAL--smtp"
        assert event["topic"] == vault.resource_id
        assert event["data"]["Id"] == written.id
        assert event["data"]["VaultName"] == vault.name
        assert event["data"]["ObjectType"] == "Secret"


class _StoreStub:
    """A stand-in store that records invalidations (the real store is tested above)."""

    def __init__(self, vault_url: str) -> None:
        self.vault_url = vault_url
        self.invalidated: list[tuple[str, str | None]] = []

    def invalidate(self, name: str | None = None, *, org: str | None = None) -> None:
        assert name is not None
        self.invalidated.append((name, org))


def test_expiry_events_arrive_for_the_current_version(
    emulator: Any, vault: Any, subscribe: Any, secret_value: Any
) -> None:
    import datetime as dt

    stub = _StoreStub(vault.uri)
    with running_webhook(RotationEvents(stub)) as hook:  # type: ignore[arg-type]
        created = subscribe(
            vault,
            hook.url,
            event_types=["Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired"],
        )
        wait_state(emulator, created["name"], "Succeeded")
        client = emulator.secret_client(vault, "sync")
        try:
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
            client.set_secret("contoso--api-key", secret_value("e"), expires_on=soon)
            replaced = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
            client.set_secret("contoso--old-key", secret_value("r"), expires_on=replaced)
            client.set_secret("contoso--old-key", secret_value("r2"))  # no exp: never expires
        finally:
            client.close()
        assert hook.wait_for(lambda d: len(d) >= 4, timeout_s=20)
        time.sleep(1.5)  # the replaced version's Expired would have come by now
    kinds = [(d["body"][0]["eventType"], d["body"][0]["subject"]) for d in hook.deliveries[1:]]
    assert ("Microsoft.KeyVault.SecretNearExpiry", "contoso--api-key") in kinds
    assert ("Microsoft.KeyVault.SecretExpired", "contoso--api-key") in kinds
    assert ("Microsoft.KeyVault.SecretExpired", "contoso--old-key") not in kinds
    assert ("api-key", "contoso") in stub.invalidated
    assert not hook.errors


def test_deliveries_are_retried_a_bounded_number_of_times(
    emulator: Any, vault: Any, subscribe: Any, secret_value: Any
) -> None:
    with running_webhook(RotationEvents(_StoreStub(vault.uri))) as hook:  # type: ignore[arg-type]
        created = subscribe(vault, hook.url)
        wait_state(emulator, created["name"], "Succeeded")
        hook.answer_status = 503
        client = emulator.secret_client(vault, "sync")
        try:
            client.set_secret("GLOBAL--flaky", secret_value("f"))
            assert hook.wait_for(lambda d: len(d) >= 1 + 2)
            hook.answer_status = None  # the third attempt succeeds
            assert hook.wait_for(lambda d: len(d) >= 1 + 3)
            hook.answer_status = 400  # never retried: dropped at once
            client.set_secret("GLOBAL--refused", secret_value("g"))
            assert hook.wait_for(lambda d: len(d) >= 1 + 4)
        finally:
            client.close()
        time.sleep(0.5)  # a retry of the 400 would have come (first retry after 0.2 s)
        state = subscription_state(emulator, created["name"])
    counts = [d["headers"]["aeg-delivery-count"] for d in hook.deliveries[1:]]
    assert counts == ["0", "1", "2", "0"]
    assert state["delivered"] == 1 and state["dropped"] == 1


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("https://example.com/hook", "not a loopback address"),
        ("http://10.0.0.1/hook", "not a loopback address"),
        ("ftp://127.0.0.1/hook", "only http:// and https://"),
        ("http://user:pw@127.0.0.1/hook", "credentials in the URL"),
    ],
)
def test_only_loopback_webhooks_can_be_subscribed(
    emulator: Any, vault: Any, endpoint: str, message: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        emulator.admin("POST", "event-subscriptions", {"vault": vault.name, "endpoint": endpoint})
    assert refused.value.code == 400
    assert message in refused.value.read().decode()
    assert all(
        s["endpoint"] != endpoint for s in emulator.admin("GET", "event-subscriptions")["value"]
    )


def test_a_subscription_needs_an_existing_vault(emulator: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        emulator.admin(
            "POST",
            "event-subscriptions",
            {"vault": "kv-nowhere", "endpoint": "http://127.0.0.1:9/"},
        )
    assert refused.value.code == 404
