"""The emulator killed with SIGKILL under write load: every acknowledged write survives.

Generalises ``tests/emulator/test_persistence.py`` (one writer, creates
only, one kill): here four writer threads run mixed operations through the
real SecretClient (new secrets, new versions of existing ones, tag updates,
deletes), the emulator child process gets SIGKILL at a seeded number of
acknowledged writes, is restarted on the same state, and the cycle repeats
on the accumulated state. After every restart, for every name:

- the value of its current version is the last acknowledged one, or the
  one whose request was in flight when the kill came (never older);
- every acknowledged tag update is there (or superseded by the in-flight one);
- every acknowledged delete left the secret soft-deleted, recoverable.

``make test`` runs 2 kill cycles; ``make soak`` 10.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from keyvault_emulator.testing import EmulatorProcess

WRITERS = 4


@dataclass
class Expectation:
    """What a name must look like after a restart."""

    acked: str | None = None  # the last acknowledged value
    in_flight: str | None = None  # a value sent but not acknowledged
    tag: str | None = None
    tag_in_flight: str | None = None
    deleted: bool = False
    delete_in_flight: bool = False


@dataclass
class Ledger:
    names: dict[str, Expectation] = field(default_factory=dict)
    acknowledged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str) -> Expectation:
        with self.lock:
            return self.names.setdefault(name, Expectation())

    def ack(self) -> None:
        with self.lock:
            self.acknowledged += 1


def client_for(child: EmulatorProcess, uri: str, **kwargs: Any) -> SecretClient:
    return child.secret_client(uri, "sync", **kwargs)


def writer(client: SecretClient, ledger: Ledger, thread: int, cycle: int, stop: threading.Event):
    rng = random.Random(thread * 1000 + cycle)
    step = 0
    while not stop.is_set():
        step += 1
        kind = rng.random()
        try:
            if kind < 0.6:  # a new version of one of this thread's 10 names
                name = f"w{thread}-{rng.randrange(10)}"
                entry = ledger.get(name)
                value = f"c{cycle}-t{thread}-s{step}"
                entry.in_flight = value
                client.set_secret(name, value)
                entry.acked, entry.in_flight = value, None
                entry.tag = entry.tag_in_flight = None  # a new version has no tags
            elif kind < 0.8:  # a tag update of a name that exists
                name = f"w{thread}-{rng.randrange(10)}"
                entry = ledger.get(name)
                if entry.acked is None or entry.in_flight is not None:
                    continue
                tag = f"c{cycle}-s{step}"
                entry.tag_in_flight = tag
                client.update_secret_properties(name, tags={"step": tag})
                entry.tag, entry.tag_in_flight = tag, None
            else:  # a create, then a delete of it
                name = f"d{thread}-c{cycle}-s{step}"
                entry = ledger.get(name)
                entry.in_flight = "doomed"
                client.set_secret(name, "doomed")
                entry.acked, entry.in_flight = "doomed", None
                ledger.ack()
                entry.delete_in_flight = True
                client.begin_delete_secret(name)  # acknowledged when the DELETE answers
                entry.deleted, entry.delete_in_flight = True, False
            ledger.ack()
        except Exception:
            return  # the emulator is gone


def verify(client: SecretClient, ledger: Ledger) -> dict[str, int]:
    live = {p.name: p for p in client.list_properties_of_secrets()}
    deleted = {d.name for d in client.list_deleted_secrets()}
    counts = {"names": 0, "in_flight_landed": 0}
    for name, entry in ledger.names.items():
        counts["names"] += 1
        if entry.deleted:
            assert name in deleted and name not in live, f"acknowledged delete of {name} lost"
            continue
        if entry.delete_in_flight:
            assert name in deleted or name in live, f"{name} vanished"
            continue
        if entry.acked is None:
            if entry.in_flight is not None and name in live:
                counts["in_flight_landed"] += 1
            continue
        try:
            secret = client.get_secret(name)
        except ResourceNotFoundError:
            pytest.fail(f"acknowledged write of {name} lost")
        assert secret.value in (entry.acked, entry.in_flight), f"{name}: stale value"
        if secret.value == entry.in_flight:
            counts["in_flight_landed"] += 1
            continue
        tags = secret.properties.tags or {}
        if entry.tag is not None:
            assert tags.get("step") in (entry.tag, entry.tag_in_flight), f"{name}: tag lost"
    return counts


def run_cycles(tmp_path: Path, cycles: int, seed: int) -> None:
    rng = random.Random(seed)
    ledger = Ledger()
    state = tmp_path / "state"
    child = EmulatorProcess(state).start()
    vault = child.create_vault(f"kv-kill{seed}", roles={"sync": "Key Vault Secrets Officer"})
    child.admin("POST", "throttling", {"vault": vault["name"], "enabled": False})
    try:
        for cycle in range(cycles):
            target = ledger.acknowledged + rng.randint(30, 150)
            clients = [client_for(child, vault["uri"], retry_total=0) for _ in range(WRITERS)]
            stop = threading.Event()
            threads = [
                threading.Thread(target=writer, args=(clients[t], ledger, t, cycle, stop))
                for t in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            while ledger.acknowledged < target and any(t.is_alive() for t in threads):
                threads[0].join(0.005)
            child.kill()
            stop.set()
            for thread in threads:
                thread.join(30)
            child = EmulatorProcess(state).start()
            child.admin("POST", "throttling", {"vault": vault["name"], "enabled": False})
            counts = verify(client_for(child, vault["uri"]), ledger)
            print(
                f"cycle {cycle}: killed at {ledger.acknowledged} acknowledged writes "
                f"(target {target}); {counts}"
            )
    finally:
        child.kill()
    assert ledger.acknowledged >= 30 * cycles


def test_emulator_sigkill_under_mixed_write_load_2_cycles(tmp_path: Path) -> None:
    run_cycles(tmp_path, 2, seed=2)


@pytest.mark.slow
def test_emulator_sigkill_under_mixed_write_load_10_cycles(tmp_path: Path) -> None:
    run_cycles(tmp_path, 10, seed=10)
