"""Races between a plan and its apply, through the real SecretClient on the emulator.

A plan is made from one listing; people (and other syncs) may write in
between. Each test plans, then writes "by hand" (or runs a second sync),
then applies the first plan, and checks that no version the plan did not
see is tagged, deleted or hidden from the next plan.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from keyvault_platform.cli.sync import prepare
from keyvault_platform.core.plan import Action
from keyvault_platform.sync.apply import apply_sync
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG
from keyvault_platform.sync.planner import SyncOptions, SyncPlan, plan_sync
from keyvault_platform.sync.vault_state import read_vault_state

from .conftest import CANARY, BeforeFirstWrite
from .test_sync_emulator import MANIFEST, Sync

DB = "acme--db-password"
HAND_VALUE = "set-by-hand-" + CANARY


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    synced = Sync(emulator, vault, tmp_path)
    code, _, _ = synced.run()
    assert code == 0
    return synced


def plan_now(sync: Sync, **options) -> SyncPlan:
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir, **options)
    return plan_sync(
        request.manifests, read_vault_state(sync.client), request.keyring, SyncOptions(**options)
    )


def keyring(sync: Sync):
    return prepare([sync.dir], environ=sync.environ, root=sync.dir).keyring


def latest_properties(sync: Sync, name: str):
    return next(p for p in sync.client.list_properties_of_secrets() if p.name == name)


def metadata_change(sync: Sync) -> SyncPlan:
    """A plan whose only change is new tags on acme--db-password (no new version)."""
    sync.write(MANIFEST.replace("tags: {team: core}", "tags: {team: platform}"))
    planned = plan_now(sync)
    (change,) = planned.plan.pending
    assert change.address == f"secret.{DB}" and change.action is Action.UPDATE
    assert {f.name for f in change.fields} == {"tags"}
    return planned


def test_a_value_set_by_hand_after_a_metadata_plan_is_refused_and_stays_visible(
    sync: Sync,
) -> None:
    planned = metadata_change(sync)
    sync.client.set_secret(DB, HAND_VALUE)  # by hand, between plan and apply
    start = time.time()
    result = apply_sync(planned, sync.client, keyring(sync))
    (failure,) = result.failed
    assert failure.address == f"secret.{DB}"
    assert "changed since the plan: re-run to plan against the current value" in (
        failure.error or ""
    )
    assert "SecretUpdate" not in [r.operation for r in sync.audit(start)]
    # The hand-set version is not tagged as the sync's ...
    hand = latest_properties(sync, DB)
    assert OWNER_TAG not in (hand.tags or {}) and FINGERPRINT_TAG not in (hand.tags or {})
    assert sync.value(DB) == HAND_VALUE
    # ... so the next plan shows it as drift, and applying it converges.
    code, plan, _ = sync.run(plan_only=True)
    assert code == 2
    (change,) = plan.plan.pending
    assert change.address == f"secret.{DB}" and change.drift
    code, _, _ = sync.run()
    assert code == 0 and sync.value(DB) == CANARY
    assert latest_properties(sync, DB).tags["team"] == "platform"


def test_a_second_sync_with_another_value_wins_and_the_first_is_refused(
    sync: Sync, tmp_path: Path
) -> None:
    first = metadata_change(sync)
    # A second sync, from another checkout, sets another value meanwhile.
    (tmp_path / "other").mkdir()
    other = Sync(sync.emulator, sync.vault, tmp_path / "other")
    other.environ["DB_PASSWORD"] = CANARY + "-other"
    code, _, _ = other.run()
    assert code == 0
    result = apply_sync(first, sync.client, keyring(sync))
    (failure,) = result.failed
    assert "changed since the plan" in (failure.error or "")
    # The vault holds the second sync's value with its fingerprint: its next
    # plan is empty, and the first sync's next plan shows the value differs.
    assert sync.value(DB) == CANARY + "-other"
    code, plan, _ = other.run(plan_only=True)
    assert code == 0 and not plan.plan.has_changes
    code, plan, _ = sync.run(plan_only=True)
    assert code == 2
    (change,) = plan.plan.pending
    assert "fingerprint mismatch" in (change.reason or "")


class HandEditJustBeforeUpdate:
    """The real SecretClient, with a hand edit made (by another real client) right
    before its first ``update_secret_properties`` goes out: after the apply's re-check."""

    def __init__(self, client, hand) -> None:
        self._client, self._hand = client, hand
        self.edited = False

    def update_secret_properties(self, name, *args, **kwargs):
        if not self.edited:
            self.edited = True
            self._hand.set_secret(name, HAND_VALUE)
        return self._client.update_secret_properties(name, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_metadata_update_lands_on_the_planned_version_even_past_the_recheck(
    sync: Sync,
) -> None:
    planned = metadata_change(sync)
    (planned_version,) = list(sync.client.list_properties_of_secret_versions(DB))
    hand = sync.emulator.secret_client(sync.vault, "sync")
    client = HandEditJustBeforeUpdate(sync.client, hand)
    result = apply_sync(planned, client, keyring(sync))
    assert client.edited and result.ok
    versions = {v.version: v for v in sync.client.list_properties_of_secret_versions(DB)}
    assert len(versions) == 2
    assert versions[planned_version.version].tags["team"] == "platform"
    # The hand's version is the latest and carries no tag of the sync's: the next
    # plan sees it as drift instead of "No changes."
    latest = latest_properties(sync, DB)
    assert OWNER_TAG not in (latest.tags or {})
    code, plan, _ = sync.run(plan_only=True)
    assert code == 2
    (change,) = plan.plan.pending
    assert change.drift



def test_a_value_set_by_hand_while_the_update_is_paced_is_refused(sync: Sync) -> None:
    planned = metadata_change(sync)
    pacer = BeforeFirstWrite(lambda: sync.client.set_secret(DB, HAND_VALUE))
    result = apply_sync(planned, sync.client, keyring(sync), pacer=pacer)
    assert pacer.done.is_set()
    (failure,) = result.failed
    assert "changed since the plan" in (failure.error or "")
    assert OWNER_TAG not in (latest_properties(sync, DB).tags or {})


def test_a_value_change_after_a_hand_edit_sets_the_manifest_value(sync: Sync) -> None:
    sync.environ["DB_PASSWORD"] = CANARY + "-v2"
    planned = plan_now(sync)
    (change,) = planned.plan.pending
    assert change.action is Action.UPDATE
    sync.client.set_secret(DB, HAND_VALUE)
    result = apply_sync(planned, sync.client, keyring(sync))
    assert result.ok  # what the plan said: a new version with the manifest's value
    assert sync.value(DB) == CANARY + "-v2"
    code, plan, _ = sync.run(plan_only=True)
    assert code == 0 and not plan.plan.has_changes


OLD = MANIFEST + "  - name: old\n    value: {env: DB_PASSWORD}\n"


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_prune_of_a_secret_set_by_hand_while_the_apply_paces_is_left_alone(
    sync: Sync, output: str
) -> None:
    sync.write(OLD)
    assert sync.run()[0] == 0
    sync.write(MANIFEST)  # acme--old is no longer declared: --prune deletes it
    pacer = BeforeFirstWrite(lambda: sync.client.set_secret("acme--old", HAND_VALUE))
    start = time.time()
    code, plan, result = sync.run(prune=True, pacer=pacer, output=output)
    assert pacer.done.is_set()
    assert [(c.address, c.action) for c in plan.plan.pending] == [
        ("secret.acme--old", Action.DELETE)
    ]
    assert "SecretDelete" not in [r.operation for r in sync.audit(start)]
    assert sync.value("acme--old") == HAND_VALUE
    assert code == 0 and result is not None and not result.failed
    (kept,) = result.succeeded
    assert kept.outcome == "not deleted" and "no longer the sync's" in (kept.note or "")
    if output == "text":
        assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in sync.output
        assert "Warning: delete: not deleted: its latest version is no longer the sync's" in (
            sync.output
        )
    else:
        import json

        lines = [json.loads(line) for line in sync.output.splitlines() if line.startswith("{")]
        assert lines[-1]["type"] == "change_summary" and lines[-1]["changes"]["remove"] == 0
        assert not [line for line in lines if line["type"] == "apply_complete"]
    # Not ours any more: the next plan leaves it alone.
    code, plan, _ = sync.run(prune=True, plan_only=True)
    assert code == 0 and not plan.plan.has_changes


class DeleteByHandJustBeforeDelete(HandEditJustBeforeUpdate):
    """The real SecretClient; someone deletes the secret right after the re-check."""

    def begin_delete_secret(self, name, *args, **kwargs):
        if not self.edited:
            self.edited = True
            self._hand.begin_delete_secret(name).wait()
        return self._client.begin_delete_secret(name, *args, **kwargs)


def test_a_prune_that_meets_a_404_after_the_recheck_is_done(sync: Sync) -> None:
    sync.write(OLD)
    assert sync.run()[0] == 0
    sync.write(MANIFEST)
    planned = plan_now(sync, prune=True)
    hand = sync.emulator.secret_client(sync.vault, "sync")
    client = DeleteByHandJustBeforeDelete(sync.client, hand)
    start = time.time()
    result = apply_sync(planned, client, keyring(sync))
    assert client.edited and not result.failed
    (done,) = result.succeeded
    assert "already deleted" in (done.note or "")
    assert [r.status for r in sync.audit(start) if r.operation == "SecretDelete"] == [200, 404]
