"""Planning over a fake vault listing: pure, no network."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyvault_platform.core.messages import render_json
from keyvault_platform.core.plan import Action
from keyvault_platform.core.views import render_text
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync import planner
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG, OWNER_VALUE, load_manifests
from keyvault_platform.sync.planner import (
    NAME_RULES,
    VALUE_RULES,
    Holder,
    NameRule,
    Observation,
    Operation,
    SyncOptions,
    ValueRule,
    Version,
    Write,
    check_rotation,
    holder_of,
    observe,
    plan_sync,
    render_rules,
    value_rule,
)
from keyvault_platform.sync.vault_state import ActualSecret, DeletedState, VaultState

from .conftest import CANARY, TEST_KEY

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


# --------------------------------------------------------------------------
# The decision tables: every row, with an example that lands on it

PREVIOUS = fp.FingerprintKey.from_text("previous-fingerprint-key-" + "p" * 32)
OTHER = fp.FingerprintKey.from_text("someone-elses-fingerprint-key-" + "o" * 32)

DECLARED = "value: {env: S}"
GENERATED = "value: {generate: {length: 32}}"


@dataclass(frozen=True)
class Example:
    """One declared secret (acme--s), what the vault holds under its name, and the options."""

    entry: str  # the manifest entry's lines after "name: s"
    actual: ActualSecret | None = None
    deleted: DeletedState | None = None
    options: SyncOptions = field(default_factory=SyncOptions)
    previous_key: bool = False  # the keyring also holds PREVIOUS
    cleared: str = "content_type"  # the field to clear, where there is one
    without_values: bool = False  # planned with no value and no key (a pull request's plan)


def version(
    keyring: fp.Keyring | fp.FingerprintKey | None,
    value: str = CANARY,
    *,
    content_type: str | None = None,
    enabled: bool = True,
    expires_on: datetime | None = None,
    managed: bool = False,
) -> ActualSecret:
    """acme--s as listed: tagged by the sync with ``keyring``'s fingerprint (None: untagged)."""
    tags = {}
    if keyring is not None:
        tags = {OWNER_TAG: OWNER_VALUE, FINGERPRINT_TAG: keyring.fingerprint("acme--s", value)}
    return ActualSecret(
        "acme--s", tags, content_type, enabled, expires_on, None, CREATED, managed=managed
    )


def deleted(actual: ActualSecret) -> DeletedState:
    return DeletedState(actual.name, actual.tags, actual, CREATED, CREATED + timedelta(days=90))


CLEARS = {"content_type": "text/plain"}  # declared without one: clearing it needs a new version


def value_examples() -> dict[tuple[Version, bool | None, bool | None, bool | None], Example]:
    current = fp.FingerprintKey.from_text(TEST_KEY)
    return {
        (Version.ABSENT, False, None, None): Example(DECLARED),
        (Version.ABSENT, True, None, None): Example(GENERATED),
        (Version.UNTAGGED, False, None, None): Example(DECLARED, version(None)),
        (Version.UNTAGGED, True, None, None): Example(GENERATED, version(None)),
        (Version.MISMATCH, None, None, None): Example(DECLARED, version(current, "old value")),
        (Version.UNKNOWN_KEY, None, None, None): Example(DECLARED, version(OTHER)),
        (Version.MATCH, None, None, True): Example(DECLARED, version(current, **CLEARS)),
        (Version.MATCH, None, False, False): Example(DECLARED, version(current)),
        (Version.MATCH, None, True, False): Example(DECLARED, version(current, enabled=False)),
        (Version.PREVIOUS_KEY, None, None, True): Example(
            DECLARED, version(PREVIOUS, expires_on=CREATED), previous_key=True, cleared="expires"
        ),
        (Version.PREVIOUS_KEY, None, None, False): Example(
            DECLARED, version(PREVIOUS, enabled=False), previous_key=True
        ),
        (Version.ROTATE, None, None, None): Example(
            GENERATED, version(current), options=SyncOptions(rotate=frozenset({"acme--s"}))
        ),
        (Version.GENERATED, None, False, False): Example(GENERATED, version(current)),
        (Version.GENERATED, None, True, False): Example(GENERATED, version(current, enabled=False)),
        (Version.GENERATED, None, False, True): Example(GENERATED, version(current, **CLEARS)),
        (Version.GENERATED, None, True, True): Example(
            GENERATED, version(current, enabled=False, **CLEARS)
        ),
        (Version.DEFERRED, None, None, True): Example(
            DECLARED, version(current, **CLEARS), without_values=True
        ),
        (Version.DEFERRED, None, False, False): Example(
            DECLARED, version(current), without_values=True
        ),
        (Version.DEFERRED, None, True, False): Example(
            DECLARED, version(current, enabled=False), without_values=True
        ),
    }


def situation(rule: ValueRule) -> tuple[Version, bool | None, bool | None, bool | None]:
    return (rule.version, rule.generated, rule.metadata_differs, rule.must_clear)


def rule_id(rule: ValueRule) -> str:
    flags = {
        "generated": rule.generated,
        "differs": rule.metadata_differs,
        "clears": rule.must_clear,
    }
    return "-".join(
        [rule.version.name.lower()]
        + [name if flag else f"not-{name}" for name, flag in flags.items() if flag is not None]
    )


def plan_example(example: Example, write_manifest, tmp_path: Path, keyring: fp.Keyring):
    directory = write_manifest(
        "acme.yaml", f"scope: acme\nsecrets:\n  - name: s\n    {example.entry}\n"
    )
    if example.without_values:
        manifests = load_manifests([directory], root=tmp_path, environ={}, resolve_values=False)
        keyring = None
    else:
        manifests = load_manifests([directory], root=tmp_path, environ={"S": CANARY})
    if example.previous_key:
        keyring = fp.Keyring(keyring.current, (PREVIOUS,))
    actual = {"acme--s": example.actual} if example.actual else {}
    gone = {"acme--s": example.deleted} if example.deleted else {}
    (desired,) = manifests.secrets
    return desired, keyring, plan_sync(manifests, state(actual, gone), keyring, example.options)


def test_every_value_rule_has_an_example() -> None:
    assert set(value_examples()) == {situation(r) for r in VALUE_RULES}


@pytest.mark.parametrize("rule", VALUE_RULES, ids=rule_id)
def test_value_rule_example_is_planned_as_the_row_says(
    rule: ValueRule, write_manifest, tmp_path: Path, keyring: fp.Keyring
) -> None:
    example = value_examples()[situation(rule)]
    desired, ring, result = plan_example(example, write_manifest, tmp_path, keyring)
    assert value_rule(observe(desired, example.actual, ring, example.options)) is rule
    outcome = rule.outcome
    (change,) = result.plan.changes
    assert change.action is outcome.action
    warnings = [d.summary for d in result.plan.warnings]
    assert bool(warnings) is outcome.warn_uncleared, warnings
    if outcome.warn_uncleared:
        assert warnings == ["cannot clear content_type of a generated secret without a new value"]
    if outcome.action is Action.NO_OP:
        assert result.steps == {}
        return
    step = result.steps[change.address]
    assert step.operations == outcome.write.operations
    assert step.regenerate is (outcome.write is Write.NEW_VALUE)
    assert change.drift is outcome.drift
    filled = {"key_id": OTHER.key_id, "cleared": example.cleared}
    assert change.reason == (outcome.reason.format(**filled) if outcome.reason else None)
    names = [f.name for f in change.fields]
    assert ("value" in names) is (
        outcome.write in (Write.VALUE, Write.NEW_VALUE, Write.COMPARED_AT_APPLY)
    )
    assert change.deferred is (outcome.write is Write.COMPARED_AT_APPLY)
    assert ("fingerprint_key" in names) is outcome.retag


def name_examples() -> dict[Holder, Example]:
    current = fp.FingerprintKey.from_text(TEST_KEY)
    return {
        Holder.NOBODY: Example(DECLARED),
        Holder.ACTIVE: Example(DECLARED, version(current)),
        Holder.DELETED_OURS: Example(DECLARED, deleted=deleted(version(current))),
        Holder.DELETED_FOREIGN: Example(DECLARED, deleted=deleted(version(None))),
        Holder.CERTIFICATE: Example(DECLARED, version(current, managed=True)),
    }


def test_every_name_rule_has_an_example() -> None:
    assert [r.holder for r in NAME_RULES] == list(Holder)  # one row per holder, in order
    assert set(name_examples()) == set(Holder)


@pytest.mark.parametrize("rule", NAME_RULES, ids=lambda r: r.holder.name.lower())
def test_name_rule_example_is_planned_as_the_row_says(
    rule: NameRule, write_manifest, tmp_path: Path, keyring: fp.Keyring
) -> None:
    example = name_examples()[rule.holder]
    assert holder_of(example.actual, example.deleted) is rule.holder
    _, _, result = plan_example(example, write_manifest, tmp_path, keyring)
    if rule.refusal is not None:
        assert result.plan.changes == () and result.steps == {}
        (error,) = result.plan.errors
        assert error.summary == rule.refusal.format(name="acme--s")
        return
    assert not result.plan.errors
    (change,) = result.plan.changes
    assert (change.action is Action.RECOVER) is rule.recover
    if rule.recover:
        assert result.steps[change.address].operations[0] is Operation.RECOVER
        assert (change.reason or "").startswith("the declared name is soft-deleted and owned")


def test_a_soft_deleted_certificate_of_ours_is_refused_too(
    write_manifest, tmp_path: Path, keyring: fp.Keyring
) -> None:
    held = deleted(version(keyring, managed=True))
    assert holder_of(None, held) is Holder.CERTIFICATE
    _, _, result = plan_example(Example(DECLARED, deleted=held), write_manifest, tmp_path, keyring)
    (error,) = result.plan.errors
    assert "backs a Key Vault certificate" in error.summary


def test_exactly_one_value_rule_applies_to_every_observation() -> None:
    for found, generated, differs, clears in itertools.product(Version, *[(False, True)] * 3):
        seen = Observation(found, generated, differs, clears)
        assert sum(r.applies(seen) for r in VALUE_RULES) == 1, seen
        value_rule(seen)  # does not raise


def test_value_rules_are_consistent() -> None:
    for rule in VALUE_RULES:
        outcome = rule.outcome
        assert (outcome.action is Action.NO_OP) is (outcome.write is Write.NOTHING), rule
        assert (outcome.action is Action.CREATE) is (rule.version is Version.ABSENT), rule
        assert outcome.action is not Action.RECOVER  # a name rule's doing


def test_the_module_docstring_shows_the_rules_as_they_are() -> None:
    assert planner.__doc__ is not None
    for table in render_rules().split("\n\n"):
        assert table in planner.__doc__, f"paste render_rules() into the docstring:\n{table}"


def test_a_literal_declared_not_sensitive_shows_its_value(
    write_manifest, tmp_path: Path, keyring: fp.Keyring
) -> None:
    directory = write_manifest(
        "acme.yaml",
        "scope: acme\nsecrets:\n"
        "  - name: url\n    sensitive: false\n    value: {literal: 'https://acme.example'}\n"
        "  - name: s\n    value: {env: S}\n",
    )
    for manifests, ring in (
        (load_manifests([directory], root=tmp_path, environ={"S": CANARY}), keyring),
        (load_manifests([directory], root=tmp_path, environ={}, resolve_values=False), None),
    ):
        text = render_text(plan_sync(manifests, state({}), ring).plan)
        assert '+ value = "https://acme.example"' in text
        assert "+ value = (sensitive value)" in text  # the env-sourced one
        assert CANARY not in text


def test_a_plan_without_values_reads_no_value_source(write_manifest, tmp_path: Path) -> None:
    """No variable set, no value file: the plan is made all the same."""
    directory = write_manifest(
        "acme.yaml",
        "scope: acme\nsecrets:\n  - name: s\n    value: {env: UNSET}\n"
        "  - name: f\n    value: {file: absent.txt}\n"
        "  - name: g\n    value: {generate: {length: 20}}\n",
    )
    manifests = load_manifests([directory], root=tmp_path, environ={}, resolve_values=False)
    assert all(s.value is None for s in manifests.secrets)
    assert [s.generated for s in manifests.secrets] == [False, True, False]  # f, g, s
    result = plan_sync(manifests, state({}), None)
    assert [c.action for c in result.plan.changes] == [Action.CREATE] * 3
