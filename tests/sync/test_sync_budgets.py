"""Every mutating request is paced in the write budget (a decision; see sync/pacing.py).

Azure's documentation does not clearly place updates, deletes and recovers;
the emulator counts every mutation against its write window, and so does the
sync's pacer. This pins that: one paced write per mutating request the
emulator's audit log records, for each kind of mutation.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from keyvault_platform.core.plan import Action
from keyvault_platform.sync.pacing import Budget, VaultPacer

from .test_sync_emulator import MANIFEST, Sync

MUTATIONS = {"SecretSet", "SecretUpdate", "SecretDelete", "SecretRecover"}


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    return Sync(emulator, vault, tmp_path)


class RecordingPacer(VaultPacer):
    """The real pacer (no limits to speak of) that counts what it paces, by budget."""

    def __init__(self) -> None:
        limits = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
        super().__init__(limits.writes, limits.others)
        self.counts: Counter[Budget] = Counter()
        self._lock = threading.Lock()

    def acquire(self, budget: Budget) -> None:
        with self._lock:
            self.counts[budget] += 1
        super().acquire(budget)


def test_every_mutation_is_paced_as_a_write(sync: Sync) -> None:
    sync.write(MANIFEST + "  - name: old\n    value: {env: DB_PASSWORD}\n")
    sync.run()
    sync.write(
        MANIFEST.replace("tags: {team: core}", "tags: {team: platform}")  # update properties
        + "  - name: new\n    value: {env: DB_PASSWORD}\n"  # create (set)
    )  # and acme--old is no longer declared: prune (delete)
    sync.client.begin_delete_secret("acme--api-key").wait()  # recover
    pacer = RecordingPacer()
    start = time.time()
    code, plan, result = sync.run(pacer=pacer, prune=True, concurrency=1)
    assert code == 0 and result is not None and not result.failed
    assert sorted(c.action.value for c in plan.plan.pending) == sorted(
        a.value for a in (Action.UPDATE, Action.CREATE, Action.DELETE, Action.RECOVER)
    )
    mutations = Counter(r.operation for r in sync.audit(start) if r.operation in MUTATIONS)
    assert mutations == Counter(MUTATIONS)  # one of each kind
    assert pacer.counts[Budget.WRITE] == sum(mutations.values())
