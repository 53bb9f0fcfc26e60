"""Planning over a fake vault listing: pure, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyvault_platform.core.messages import render_json
from keyvault_platform.core.plan import Action
from keyvault_platform.core.views import render_text
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG, OWNER_VALUE, load_manifests
from keyvault_platform.sync.planner import Operation, SyncOptions, check_rotation, plan_sync
from keyvault_platform.sync.vault_state import ActualSecret, DeletedState, VaultState

from .conftest import CANARY

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

MANIFEST = """\
scope: acme
secrets:
  - name: db-password
    description: main database
    value: {env: DB_PASSWORD}
    content_type: text/plain
    tags: {team: core}
  - name: api-key
    value:
      generate: {length: 32}
  - name: rotating
    value: {env: DB_PASSWORD}
    expires: 90d
"""


@pytest.fixture
def manifests(write_manifest, tmp_path: Path):
    directory = write_manifest("acme.yaml", MANIFEST)
    return load_manifests([directory], root=tmp_path, environ={"DB_PASSWORD": CANARY})


def owned(
    keyring: fp.Keyring,
    name: str,
    value: str | None = CANARY,
    *,
    tags: dict[str, str] | None = None,
    content_type: str | None = None,
    enabled: bool = True,
    expires_on: datetime | None = None,
    fingerprint: str | None = None,
) -> ActualSecret:
    all_tags = dict(tags or {})
    all_tags[OWNER_TAG] = OWNER_VALUE
    all_tags[FINGERPRINT_TAG] = fingerprint or keyring.fingerprint(name, value or "generated")
    return ActualSecret(
        name=name,
        tags=all_tags,
        content_type=content_type,
        enabled=enabled,
        expires_on=expires_on,
        not_before=None,
        created_on=CREATED,
    )


def converged(keyring: fp.Keyring) -> dict[str, ActualSecret]:
    secrets = [
        owned(
            keyring,
            "acme--db-password",
            tags={"team": "core", "description": "main database"},
            content_type="text/plain",
        ),
        owned(keyring, "acme--api-key", None),
        owned(keyring, "acme--rotating", expires_on=CREATED + timedelta(days=90)),
    ]
    return {s.name.lower(): s for s in secrets}


def state(secrets: dict[str, ActualSecret], deleted: dict[str, DeletedState] | None = None):
    return VaultState(secrets, deleted or {})


def test_empty_vault_plans_creates(manifests, keyring) -> None:
    result = plan_sync(manifests, state({}), keyring)
    assert [c.action for c in result.plan.pending] == [Action.CREATE] * 3
    assert all(s.operations == (Operation.SET,) for s in result.steps.values())
    assert result.steps["secret.acme--api-key"].regenerate
    text = render_text(result.plan)
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in text
    assert "P90D" not in text and "90d after the new value is set" in text


def test_converged_vault_plans_nothing(manifests, keyring) -> None:
    result = plan_sync(manifests, state(converged(keyring)), keyring)
    assert not result.plan.has_changes
    assert result.steps == {}
    assert {c.action for c in result.plan.changes} == {Action.NO_OP}
    assert "No changes." in render_text(result.plan)


def test_value_change_is_a_set(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets["acme--db-password"] = owned(
        keyring,
        "acme--db-password",
        "old value",
        tags={"team": "core", "description": "main database"},
        content_type="text/plain",
    )
    result = plan_sync(manifests, state(secrets), keyring)
    (change,) = result.plan.pending
    assert change.action is Action.UPDATE and not change.drift
    assert "fingerprint mismatch" in (change.reason or "")
    assert result.steps[change.address].operations == (Operation.SET,)
    assert change.fields[0].name == "value" and change.fields[0].sensitive


def test_metadata_change_is_an_update_without_new_version(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets["acme--db-password"] = owned(
        keyring,
        "acme--db-password",
        tags={"team": "old-team", "description": "main database"},
        content_type="text/plain",
        enabled=False,
    )
    result = plan_sync(manifests, state(secrets), keyring)
    (change,) = result.plan.pending
    assert result.steps[change.address].operations == (Operation.UPDATE_PROPERTIES,)
    assert {f.name for f in change.fields} == {"enabled", "tags"}


def test_version_set_by_hand_is_drift(manifests, keyring) -> None:
    secrets = converged(keyring)
    hand = ActualSecret("acme--db-password", {}, None, True, None, None, CREATED)
    secrets["acme--db-password"] = hand
    secrets["acme--api-key"] = ActualSecret("acme--api-key", {}, None, True, None, None, CREATED)
    result = plan_sync(manifests, state(secrets), keyring)
    changes = {c.address: c for c in result.plan.pending}
    assert changes["secret.acme--db-password"].drift
    assert changes["secret.acme--api-key"].drift
    assert result.steps["secret.acme--api-key"].regenerate  # planned back: a new value
    assert "(drift: changed outside this tool)" in render_text(result.plan)


def test_generated_values_are_not_regenerated_unless_rotated(manifests, keyring) -> None:
    secrets = converged(keyring)
    assert not plan_sync(manifests, state(secrets), keyring).plan.has_changes
    rotate = check_rotation(manifests, ["ACME--api-key"])
    result = plan_sync(manifests, state(secrets), keyring, SyncOptions(rotate=rotate))
    (change,) = result.plan.pending
    assert change.address == "secret.acme--api-key" and "rotation" in (change.reason or "")
    assert result.steps[change.address].regenerate


def test_rotation_names_are_checked(manifests) -> None:
    with pytest.raises(InputError, match="not declared"):
        check_rotation(manifests, ["acme--nope"])
    with pytest.raises(InputError, match="only generated secrets rotate"):
        check_rotation(manifests, ["acme--db-password"])


def test_relative_expiry_counts_from_the_current_version(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets["acme--rotating"] = owned(
        keyring, "acme--rotating", expires_on=CREATED + timedelta(days=30)
    )
    result = plan_sync(manifests, state(secrets), keyring)
    (change,) = result.plan.pending
    (field,) = change.fields
    assert (field.name, field.new) == ("expires", "2026-05-30T12:00:00Z")
    assert result.steps[change.address].value_set_at == CREATED


def test_relative_expiry_tolerates_the_gap_between_our_clock_and_the_vaults(
    manifests, keyring
) -> None:
    # The expiry was computed a second before Key Vault stamped the version's
    # creation: that is the same "90d", not drift.
    secrets = converged(keyring)
    secrets["acme--rotating"] = owned(
        keyring, "acme--rotating", expires_on=CREATED + timedelta(days=90, seconds=-1)
    )
    assert not plan_sync(manifests, state(secrets), keyring).plan.has_changes


def test_clearing_expiry_needs_a_new_version(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets["acme--db-password"] = owned(
        keyring,
        "acme--db-password",
        tags={"team": "core", "description": "main database"},
        content_type="text/plain",
        expires_on=CREATED,
    )
    result = plan_sync(manifests, state(secrets), keyring)
    (change,) = result.plan.pending
    assert result.steps[change.address].operations == (Operation.SET,)
    assert "clearing expires" in (change.reason or "")


def test_previous_key_fingerprints_are_retagged_without_new_version(manifests) -> None:
    old = fp.FingerprintKey.from_text("old-key-" + "x" * 40)
    new = fp.FingerprintKey.from_text("new-key-" + "y" * 40)
    secrets = converged(fp.Keyring(old))
    rotated = fp.Keyring(new, (old,))
    result = plan_sync(manifests, state(secrets), rotated)
    ops = {a: s.operations for a, s in result.steps.items()}
    assert ops == {
        "secret.acme--db-password": (Operation.UPDATE_PROPERTIES,),
        "secret.acme--rotating": (Operation.UPDATE_PROPERTIES,),
    }  # the generated one keeps its tag: its value is never read
    without_old = plan_sync(manifests, state(secrets), fp.Keyring(new))
    assert {s.operations for s in without_old.steps.values()} == {(Operation.SET,)}


def test_owned_soft_deleted_name_is_recovered(manifests, keyring) -> None:
    secrets = converged(keyring)
    gone = secrets.pop("acme--api-key")
    deleted = DeletedState(gone.name, gone.tags, gone, CREATED, CREATED + timedelta(days=90))
    result = plan_sync(manifests, state(secrets, {"acme--api-key": deleted}), keyring)
    (change,) = result.plan.pending
    assert change.action is Action.RECOVER
    assert result.steps[change.address].operations == (Operation.RECOVER,)  # value kept
    assert "Plan: 1 to recover, 0 to add" in render_text(result.plan)


def test_recovered_secret_with_changed_value_is_then_set(manifests, keyring) -> None:
    secrets = converged(keyring)
    stale = owned(keyring, "acme--rotating", "older", expires_on=CREATED + timedelta(days=90))
    secrets.pop("acme--rotating")
    deleted = DeletedState(stale.name, stale.tags, stale, CREATED, None)
    result = plan_sync(manifests, state(secrets, {"acme--rotating": deleted}), keyring)
    (change,) = result.plan.pending
    assert result.steps[change.address].operations == (Operation.RECOVER, Operation.SET)


def test_foreign_soft_deleted_name_is_an_error(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets.pop("acme--api-key")
    foreign = ActualSecret("acme--api-key", {"owner": "someone"}, None, True, None, None, CREATED)
    deleted = DeletedState(foreign.name, foreign.tags, foreign, CREATED, CREATED)
    result = plan_sync(manifests, state(secrets, {"acme--api-key": deleted}), keyring)
    (error,) = result.plan.errors
    assert "soft-deleted secret the sync does not own" in error.summary
    assert "never purges" in (error.detail or "")
    assert "Planning failed" in render_text(result.plan)


def test_prune_only_with_flag_only_owned_only_synced_scopes(manifests, keyring) -> None:
    secrets = converged(keyring)
    for extra in (
        owned(keyring, "acme--old-one"),  # ours, in scope: prunable
        ActualSecret("acme--hand-made", {}, None, True, None, None, CREATED),  # not ours
        owned(keyring, "other--old"),  # ours, but scope not synced
        owned(keyring, "not-a-scoped-name"),
    ):
        secrets[extra.name.lower()] = extra
    without = plan_sync(manifests, state(secrets), keyring)
    assert not without.plan.has_changes
    (warning,) = without.plan.warnings
    assert "acme--old-one" in (warning.detail or "") and "--prune" in (warning.detail or "")
    pruned = plan_sync(manifests, state(secrets), keyring, SyncOptions(prune=True))
    assert [(c.address, c.action) for c in pruned.plan.pending] == [
        ("secret.acme--old-one", Action.DELETE)
    ]
    limited = plan_sync(manifests, state(secrets), keyring, SyncOptions(prune=True, prune_max=0))
    (error,) = limited.plan.errors
    assert "refusing to prune 1 secrets: the limit is 0" in error.summary


def test_plans_never_contain_values(manifests, keyring) -> None:
    secrets = converged(keyring)
    secrets["acme--db-password"] = owned(keyring, "acme--db-password", "x")
    result = plan_sync(manifests, state(secrets), keyring)
    assert CANARY not in render_text(result.plan)
    assert CANARY not in render_json(result.plan)
    assert CANARY not in repr(result)
