"""Hand edits racing a sync's apply, many at once: no hand-set value is ever tagged as the sync's.

An initial sync writes N secrets; their manifest then changes only tags, so
the plan is N metadata updates. While that plan is applied (8 workers), a
second client sets M of the secrets by hand, concurrently. Whatever the
interleaving, after the apply:

- a secret whose value is a hand-set one has no ownership or fingerprint tag
  on that version (the sync never tagged a version it did not plan);
- the next plan shows exactly those secrets as drift, and applying it
  converges to a plan with no changes.

Small counts run in ``make test``; ``make soak`` runs the large ones.
Loopback only, bounded in count; nothing asserts on time.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG

from .conftest import CANARY
from .test_sync_emulator import Sync

HAND = "set-by-hand-" + CANARY


def manifest(count: int, team: str) -> str:
    entries = "".join(
        f"  - name: s{i:03d}\n    value: {{env: DB_PASSWORD}}\n    tags: {{team: {team}}}\n"
        for i in range(count)
    )
    return f"scope: acme\nsecrets:\n{entries}"


@pytest.mark.parametrize(
    ("secrets", "edits", "seed"),
    [
        (24, 12, 1),
        pytest.param(300, 150, 2, marks=pytest.mark.slow),
        pytest.param(300, 150, 3, marks=pytest.mark.slow),
    ],
)
def test_hand_edits_during_an_apply_are_never_tagged_as_the_syncs(
    emulator, vault, tmp_path: Path, secrets: int, edits: int, seed: int
) -> None:
    emulator.set_throttling(vault.name, enabled=False)
    sync = Sync(emulator, vault, tmp_path)
    sync.write(manifest(secrets, "core"))
    code, _, _ = sync.run()
    assert code == 0

    sync.write(manifest(secrets, "platform"))
    names = [f"acme--s{i:03d}" for i in range(secrets)]
    edited = sorted(random.Random(seed).sample(names, edits))
    hand = emulator.secret_client(vault, "sync")
    started = threading.Event()

    def edit_by_hand() -> None:
        started.wait(timeout=30)
        for name in edited:
            hand.set_secret(name, f"{HAND}-{name}")

    editor = threading.Thread(target=edit_by_hand)
    editor.start()

    class Signal:
        """The real client; the hand edits start with the apply's first update."""

        def __getattr__(self, attribute: str):
            if attribute == "update_secret_properties":
                started.set()
            return getattr(sync.client, attribute)

    try:
        code, _, result = sync.run(client=Signal(), concurrency=8)
    finally:
        started.set()
        editor.join(timeout=120)
    assert not editor.is_alive()
    assert code in (0, 1)  # 1: some updates met a hand edit and were refused

    drifted = []
    for properties in sync.client.list_properties_of_secrets():
        value = sync.value(properties.name)
        tags = properties.tags or {}
        if value.startswith(HAND):
            drifted.append(properties.name)
            assert OWNER_TAG not in tags and FINGERPRINT_TAG not in tags, properties.name
        else:
            assert tags.get("team") == "platform" and tags.get(OWNER_TAG), properties.name
    assert drifted == edited  # every hand edit stays visible, none is hidden
    failed = {r.address.removeprefix("secret.") for r in result.failed}
    assert failed <= set(edited)

    code, plan, _ = sync.run(plan_only=True)
    assert code == 2
    pending = {c.address.removeprefix("secret."): c for c in plan.plan.pending}
    assert sorted(pending) == edited and all(c.drift for c in pending.values())
    code, _, _ = sync.run()
    assert code == 0
    code, plan, _ = sync.run(plan_only=True)
    assert code == 0 and not plan.plan.has_changes
