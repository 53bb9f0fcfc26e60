"""The runtime through a vault outage: stale until the limit, then a clear error, then recovery.

The app's ``SecretStore`` (the real SecretClient over HTTPS, as the ``app``
identity) reads org secrets and a GLOBAL fallback; then the vault goes
dark, with connections dropped (not answered: the hardest case for a
client). On a fake clock:

- within ``max_stale_s`` past expiry every value, org and GLOBAL fallback,
  is served stale, and the vault is not hammered: within the error backoff
  further reads make no request at all;
- the health check says the vault is unreachable, without raising;
- past ``max_stale_s`` a read raises ``VaultUnreachableError`` that names
  the secret and the vault, and carries no value;
- when the vault returns (its value rotated meanwhile), the same store,
  without a restart, serves the new value and reports healthy.

Scanned with the leak scanner throughout (DEBUG logs, warnings, exceptions).
"""

from __future__ import annotations

import time
import uuid

import pytest
from orgsecrets import (
    CacheConfig,
    EmulatorSettings,
    HealthStatus,
    SecretStore,
    StoreConfig,
    VaultUnreachableError,
)

from .leakscan import LeakScanner

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_runtime_serves_stale_then_fails_clearly_then_recovers(emulator, vault) -> None:
    values = {
        "contoso--db-password": f"db-{uuid.uuid4().hex}",
        "contoso--api-key": f"api-{uuid.uuid4().hex}",
        "GLOBAL--smtp-password": f"smtp-{uuid.uuid4().hex}",
    }
    rotated = f"db-rotated-{uuid.uuid4().hex}"
    scanner = LeakScanner([*values.values(), rotated], label="runtime")
    seeder = emulator.secret_client(vault, "sync")
    for name, value in values.items():
        seeder.set_secret(name, value)
    clock = Clock()
    cache = CacheConfig(
        ttl_s=60,
        ttl_jitter_ratio=0,
        max_stale_s=600,
        error_backoff_initial_s=5,
        error_backoff_max_s=60,
    )
    config = StoreConfig(
        vault_url=vault.uri,
        emulator=EmulatorSettings(ca_path=emulator.ca_path),
        cache=cache,
        retry_total=2,
        retry_backoff_factor_s=0.01,
        connect_timeout_s=2,
        read_timeout_s=2,
    )
    store = SecretStore(config, credential=emulator.credential("app"), clock=clock)
    reads = [
        ("db-password", "contoso", "contoso--db-password"),
        ("api-key", "contoso", "contoso--api-key"),
        ("smtp-password", "contoso", "GLOBAL--smtp-password"),  # falls back to GLOBAL
    ]
    try:
        with scanner.capture("runtime"):
            for short, org, full in reads:
                assert store.get(short, org=org) == values[full]
            assert store.health().status is HealthStatus.OK

            emulator.set_faults(vault.name, outage=True, outage_drop=True)
            outage_start = time.time()
            try:
                served_stale = 0
                for step in range(10):  # 61 s .. 601 s past the load: all within the limit
                    clock.advance(61 if step == 0 else 60)
                    for short, org, full in reads:
                        assert store.get(short, org=org) == values[full]
                        served_stale += 1
                    # within the error backoff, more reads do not reach the vault
                    before = len(emulator.audit(vault=vault.name, since=outage_start))
                    for _ in range(20):
                        for short, org, full in reads:
                            assert store.get(short, org=org) == values[full]
                            served_stale += 1
                    assert len(emulator.audit(vault=vault.name, since=outage_start)) == before
                health = store.health()
                assert not health.ok and health.status is HealthStatus.UNREACHABLE
                attempts = len(emulator.audit(vault=vault.name, since=outage_start))

                clock.advance(61)  # now beyond max_stale_s for every entry
                with pytest.raises(VaultUnreachableError) as caught:
                    store.get("db-password", org="contoso")
                error = caught.value
                text = str(error) + " ".join(getattr(error, "__notes__", []))
                assert "contoso--db-password" in text and vault.uri in text
                assert "max_stale_s=600" in text
                scanner.scan_exception(error, "past max staleness")
            finally:
                emulator.clear_faults(vault.name)

            seeder.set_secret("contoso--db-password", rotated)
            clock.advance(61)  # past the error backoff
            assert store.get("db-password", org="contoso") == rotated
            assert store.get("smtp-password", org="contoso") == values["GLOBAL--smtp-password"]
            assert store.health().status is HealthStatus.OK
    finally:
        store.close()
    print(
        f"{served_stale} stale reads served through the outage with {attempts} vault "
        "requests attempted; clear error past max_stale_s; recovered without restart"
    )
    assert attempts < served_stale / 4
    scanner.assert_clean()
