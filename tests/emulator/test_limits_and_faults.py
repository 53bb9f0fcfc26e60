"""Service limits (429 + Retry-After) and injected faults, seen through the SDK."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from keyvault_emulator.throttling import SlidingWindow


def test_sliding_window_counts_and_tells_how_long_to_wait():
    window = SlidingWindow(limit=3, window_s=10)
    assert [window.try_acquire(now) for now in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert window.try_acquire(3.0) == pytest.approx(7.0)
    assert window.try_acquire(10.5) == 0.0  # the event at 0.0 left the window


def test_a_burst_of_429s_is_absorbed_by_the_sdk_retry_policy(emulator, vault):
    emulator.set_throttling(vault.name, enabled=True, writes_per_10s=3, window_s=1.0)
    try:
        client = emulator.secret_client(vault, "sync", retry_total=10, retry_status=10)
        before = len(emulator.audit(vault=vault.name))
        for i in range(5):
            client.set_secret(f"burst-{i}", "v")
        records = emulator.audit(vault=vault.name)[before:]
        throttled = [r for r in records if r.status == 429]
        assert throttled, "the limit should have been hit"
        assert {r.secret for r in records if r.status == 200} == {f"burst-{i}" for i in range(5)}
    finally:
        emulator.set_throttling(vault.name, enabled=False)


def test_throttled_answer_carries_retry_after(emulator, vault):
    emulator.set_throttling(vault.name, enabled=True, writes_per_10s=1)
    try:
        client = emulator.secret_client(vault, "sync", retry_total=0)
        client.set_secret("once", "v")
        with pytest.raises(HttpResponseError) as throttled:
            client.set_secret("twice", "v")
        assert throttled.value.status_code == 429
        assert throttled.value.error.code == "Throttled"
        assert int(throttled.value.response.headers["Retry-After"]) >= 1
    finally:
        emulator.set_throttling(vault.name, enabled=False)


def test_injected_errors_are_seeded_and_retried(emulator, vault):
    emulator.secret_client(vault, "sync").set_secret("flaky", "v")
    emulator.set_faults(vault.name, error_rate=0.3, statuses=(500, 503), retry_after_s=0, seed=7)
    try:
        client = emulator.secret_client(
            vault, "app", retry_total=10, retry_status=10, retry_backoff_factor=0.01
        )
        for _ in range(20):
            assert client.get_secret("flaky").value == "v"
        statuses = {r.status for r in emulator.audit(vault=vault.name, operation="SecretGet")}
        assert statuses >= {200} and statuses & {500, 503}
    finally:
        emulator.clear_faults(vault.name)


def test_outage_then_recovery(emulator, vault):
    client = emulator.secret_client(vault, "sync", retry_total=0)
    client.set_secret("during-outage", "v")
    emulator.set_faults(vault.name, outage=True)
    with pytest.raises(HttpResponseError) as down:
        client.get_secret("during-outage")
    assert down.value.status_code == 503
    emulator.set_faults(vault.name, outage=True, outage_drop=True)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.get_secret("during-outage")
    emulator.clear_faults(vault.name)
    assert client.get_secret("during-outage").value == "v"


def test_dropped_connections_and_latency(emulator, vault):
    client = emulator.secret_client(vault, "sync", retry_total=0)
    client.set_secret("slow", "v")
    emulator.set_faults(vault.name, drop_rate=1.0)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.get_secret("slow")
    emulator.set_faults(vault.name, latency_ms=30)
    assert client.get_secret("slow").value == "v"
    emulator.clear_faults(vault.name)
