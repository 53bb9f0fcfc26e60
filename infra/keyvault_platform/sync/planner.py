"""Plan a sync: compare the manifests with the vault's metadata, without I/O.

**Planning** (:func:`plan_sync`, pure): every secret the sync writes carries
the tags ``managed-by`` (ownership) and ``value-fingerprint`` (a keyed HMAC of
its value, :mod:`keyvault_platform.sync.fingerprint`). Per declared secret:

========================================  ==========================================
vault state                               change
========================================  ==========================================
absent                                    create (``set_secret``)
fingerprint matches, metadata matches     no-op
fingerprint matches, metadata differs     update, metadata only
                                          (``update_secret_properties``: no new version)
fingerprint from the previous key         update, metadata only (re-tag)
fingerprint differs                       update value (``set_secret``)
no fingerprint / not ours                 update value, marked **drift** (a version
                                          set by hand carries no tags)
soft-deleted, ours                        recover, then whatever the above says
soft-deleted, not ours                    error: planning fails, nothing is written
========================================  ==========================================

Generated values are never read, so for them "fingerprint matches" means
"carries our fingerprint"; they are regenerated only when created, drifted,
or named with ``--rotate``. Secrets the sync owns in the scopes being synced
that no manifest declares are deleted only with ``prune=True``, at most
``prune_max`` of them (more is an error), and never purged.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orgsecrets import naming

from keyvault_platform.core.plan import (
    ABSENT,
    REDACTED,
    Action,
    Change,
    Diagnostic,
    FieldDiff,
    Plan,
)
from keyvault_platform.core.yaml_source import InputError, Location, Problem
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import (
    FINGERPRINT_TAG,
    OWNER_TAG,
    DesiredSecret,
    ManifestSet,
    Moment,
)
from keyvault_platform.sync.vault_state import ActualSecret, DeletedState, VaultState

log = logging.getLogger(__name__)

DEFAULT_PRUNE_MAX = 10


# --------------------------------------------------------------------------
# Plans


class Operation(enum.Enum):
    """One SDK call an applied change makes."""

    SET = "set_secret"
    UPDATE_PROPERTIES = "update_secret_properties"
    RECOVER = "begin_recover_deleted_secret"
    DELETE = "begin_delete_secret"


@dataclass(frozen=True)
class Step:
    """How to apply one change: the SDK calls, in order, and what they need.

    ``value_set_at`` anchors relative expiry/not-before for a metadata-only
    update (the current version's creation); ``None`` means "the new value's
    own time", resolved when the value is set.
    """

    address: str
    name: str
    operations: tuple[Operation, ...]
    desired: DesiredSecret | None = None
    regenerate: bool = False
    keep_fingerprint: str | None = None  # a generated secret's current tag, kept as is
    value_set_at: datetime | None = None

    def __repr__(self) -> str:
        ops = ", ".join(o.value for o in self.operations)
        return f"Step({self.address}: {ops})"


@dataclass(frozen=True)
class SyncPlan:
    """A :class:`~keyvault_platform.core.plan.Plan` plus the steps that apply its changes."""

    plan: Plan
    steps: Mapping[str, Step] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()

    @property
    def writes(self) -> int:
        return sum(len(s.operations) for s in self.steps.values())


@dataclass(frozen=True)
class SyncOptions:
    """What the caller asks beyond the manifests."""

    prune: bool = False
    prune_max: int = DEFAULT_PRUNE_MAX
    rotate: frozenset[str] = frozenset()  # lower-cased vault names of generated secrets


def check_rotation(manifests: ManifestSet, names: Iterable[str]) -> frozenset[str]:
    """Validate ``--rotate`` names against the manifests, before any network call.

    Each must be the full vault name of a declared *generated* secret (other
    values rotate by changing their source). Returns lower-cased names.
    """
    declared = manifests.by_key()
    problems = []
    result = set()
    for name in names:
        secret = declared.get(name.lower())
        if secret is None:
            problems.append(
                Problem(Location("--rotate"), f"'{name}' is not declared in any manifest")
            )
        elif not secret.generated:
            problems.append(
                Problem(
                    secret.location,
                    f"--rotate {name}: only generated secrets rotate here; this one comes "
                    f"from {secret.source}, so change the value at its source",
                )
            )
        else:
            result.add(name.lower())
    if problems:
        raise InputError(problems)
    return frozenset(result)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# A relative expiry ("90d") is computed by us just before the set, while its
# anchor (the version's ``created``) is stamped by Key Vault: they differ by the
# request's duration and any clock skew, so they match within this margin.
RELATIVE_MOMENT_TOLERANCE_S = 120


def _same_instant(a: datetime | None, b: datetime | None, *, tolerance_s: int = 0) -> bool:
    if a is None or b is None:
        return a is b
    return abs(int(a.timestamp()) - int(b.timestamp())) <= tolerance_s


def _user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in (OWNER_TAG, FINGERPRINT_TAG)}


def _moment_text(moment: Moment | None, base: datetime | None) -> str | None:
    """How a desired instant shows in a plan (relative ones before the value exists)."""
    if moment is None:
        return None
    if moment.at is not None or base is not None:
        return _iso(moment.resolve(base or datetime.now(UTC)))
    return f"{moment.text} after the new value is set"


@dataclass(frozen=True)
class _Comparison:
    fields: tuple[FieldDiff, ...]
    needs_new_version: tuple[str, ...]  # fields update_secret_properties cannot clear


def _compare_metadata(
    desired: DesiredSecret, actual: ActualSecret | None, base: datetime | None
) -> _Comparison:
    """Field diffs between the declared metadata and the current version's.

    ``base`` is when the current value was set (relative moments count from
    it); ``None`` when a new value will be set.
    """
    diffs: list[FieldDiff] = []
    clear: list[str] = []
    if actual is None:
        if desired.content_type is not None:
            diffs.append(FieldDiff("content_type", ABSENT, desired.content_type))
        diffs.append(FieldDiff("enabled", ABSENT, desired.enabled))
        for label, moment in (("expires", desired.expires), ("not_before", desired.not_before)):
            if moment is not None:
                diffs.append(FieldDiff(label, ABSENT, _moment_text(moment, None)))
        if desired.tags:
            diffs.append(FieldDiff("tags", ABSENT, dict(desired.tags)))
        return _Comparison(tuple(diffs), ())
    have_type = actual.content_type or None
    if have_type != desired.content_type:
        diffs.append(FieldDiff("content_type", have_type, desired.content_type))
        if desired.content_type is None:
            clear.append("content_type")
    if actual.enabled != desired.enabled:
        diffs.append(FieldDiff("enabled", actual.enabled, desired.enabled))
    for label, moment, have in (
        ("expires", desired.expires, actual.expires_on),
        ("not_before", desired.not_before, actual.not_before),
    ):
        if moment is None:
            if have is not None:
                diffs.append(FieldDiff(label, _iso(have), None))
                clear.append(label)
        elif moment.at is None and base is None:
            diffs.append(FieldDiff(label, _iso(have), _moment_text(moment, None)))
        else:
            want = moment.resolve(base or datetime.now(UTC))
            tolerance = RELATIVE_MOMENT_TOLERANCE_S if moment.at is None else 0
            if not _same_instant(have, want, tolerance_s=tolerance):
                diffs.append(FieldDiff(label, _iso(have), _iso(want)))
    have_tags = _user_tags(actual.tags)
    if have_tags != dict(desired.tags):
        diffs.append(FieldDiff("tags", have_tags, dict(desired.tags)))
    return _Comparison(tuple(diffs), tuple(clear))


def _value_field(old_exists: bool) -> FieldDiff:
    return FieldDiff("value", REDACTED if old_exists else ABSENT, REDACTED, sensitive=True)


def _plan_declared(
    desired: DesiredSecret,
    actual: ActualSecret | None,
    deleted: DeletedState | None,
    keyring: fp.Keyring,
    options: SyncOptions,
) -> tuple[Change | None, Step | None, list[Diagnostic]]:
    address = desired.address
    diagnostics: list[Diagnostic] = []
    operations: list[Operation] = []
    notes: list[str] = [] if desired.generated else [f"value from {desired.source}"]
    recovering = False
    if actual is None and deleted is not None:
        if not deleted.owned:
            diagnostics.append(
                Diagnostic(
                    "error",
                    f"the name {deleted.name} is held by a soft-deleted secret the sync "
                    "does not own",
                    detail=(
                        f"Deleted {_iso(deleted.deleted_on) or '(unknown date)'}, purge "
                        f"scheduled {_iso(deleted.scheduled_purge_on) or '(unknown)'}. "
                        "If it is the same secret, recover it by hand "
                        f"(az keyvault secret recover --name {deleted.name}) and re-run; "
                        "otherwise choose another name. The sync never purges.\n"
                        f"Declared at {desired.location}."
                    ),
                    address=address,
                )
            )
            return None, None, diagnostics
        recovering = True
        actual = deleted.actual
        operations.append(Operation.RECOVER)
        notes.append(
            f"soft-deleted {_iso(deleted.deleted_on) or '(unknown date)'} "
            f"(purge scheduled {_iso(deleted.scheduled_purge_on) or 'unknown'}); "
            "carries the sync's ownership tag"
        )
    if actual is not None and actual.managed:
        diagnostics.append(
            Diagnostic(
                "error",
                f"{actual.name} backs a Key Vault certificate; the sync does not manage it",
                detail=f"Remove it from the manifest at {desired.location}.",
                address=address,
            )
        )
        return None, None, diagnostics

    # Does the current version hold the declared value?
    reason: str | None = None
    drift = False
    set_value = False
    regenerate = False
    keep_fingerprint = None
    retag = False
    tag = actual.tags.get(FINGERPRINT_TAG) if actual else None
    if actual is None:
        set_value = True
        regenerate = desired.generated
    elif not actual.owned or fp.parse(tag) is None:
        set_value = drift = True
        regenerate = desired.generated
        reason = (
            "the current version carries no sync fingerprint: it was set outside the "
            "manifests" + ("; a new value will be generated" if desired.generated else "")
        )
    elif desired.generated:
        if desired.vault_name.lower() in options.rotate:
            set_value = regenerate = True
            reason = "rotation requested (--rotate): a new value will be generated"
        else:
            keep_fingerprint = tag
    else:
        assert desired.value is not None
        verdict = keyring.verify(tag, desired.vault_name, desired.value.reveal())
        if verdict is fp.Verdict.MISMATCH:
            set_value = True
            reason = "the value at the source differs from the vault's (fingerprint mismatch)"
        elif verdict is fp.Verdict.UNKNOWN_KEY:
            set_value = True
            parsed = fp.parse(tag)
            reason = (
                f"the fingerprint was made with another key (id {parsed.key_id if parsed else '?'})"
                "; without it the value cannot be compared, so it is set again"
            )
        elif verdict is fp.Verdict.MATCH_PREVIOUS_KEY:
            retag = True

    base = None if set_value else (actual.created_on if actual else None)
    comparison = _compare_metadata(desired, actual, base)
    fields = list(comparison.fields)
    if not set_value and comparison.needs_new_version:
        cleared = ", ".join(comparison.needs_new_version)
        if desired.generated:
            diagnostics.append(
                Diagnostic(
                    "warning",
                    f"cannot clear {cleared} of a generated secret without a new value",
                    detail=(
                        "Key Vault clears these only with a new version, and the sync never "
                        f"reads values; rotate it (--rotate {desired.vault_name}) or set "
                        f"{cleared} explicitly. Declared at {desired.location}."
                    ),
                    address=address,
                )
            )
            fields = [f for f in fields if f.name not in comparison.needs_new_version]
        else:
            set_value = True
            reason = f"clearing {cleared} needs a new version (same value)"
            base = None
            fields = list(_compare_metadata(desired, actual, None).fields)
    if retag and not set_value:
        parsed = fp.parse(tag)
        fields.append(
            FieldDiff(
                "fingerprint_key",
                parsed.key_id if parsed else None,
                keyring.current.key_id,
            )
        )
    if set_value:
        operations.append(Operation.SET)
        fields.insert(0, _value_field(actual is not None))
        if regenerate and desired.generator is not None:
            notes.append(f"a new value of {desired.generator} will be generated")
    elif fields:
        operations.append(Operation.UPDATE_PROPERTIES)
        reason = reason or (
            "metadata differs (no new version)" if not retag else "fingerprint key rotated"
        )
    if recovering:
        action = Action.RECOVER
        reason = "the declared name is soft-deleted and owned by the sync" + (
            f"; then {reason}" if reason else ""
        )
    elif actual is None:
        action = Action.CREATE
    elif operations:
        action = Action.UPDATE
    else:
        return Change(address, Action.NO_OP), None, diagnostics
    change = Change(
        address,
        action,
        fields=tuple(fields),
        reason=reason,
        drift=drift,
        notes=tuple(notes),
    )
    step = Step(
        address=address,
        name=desired.vault_name,
        operations=tuple(operations),
        desired=desired,
        regenerate=regenerate,
        keep_fingerprint=keep_fingerprint,
        value_set_at=base,
    )
    return change, step, diagnostics


def _scope_of(name: str) -> str | None:
    try:
        return naming.parse_secret_name(name).scope.lower()
    except naming.InvalidSecretNameError:
        return None


def plan_sync(
    manifests: ManifestSet,
    state: VaultState,
    keyring: fp.Keyring,
    options: SyncOptions = SyncOptions(),
) -> SyncPlan:
    """The changes that make the vault match ``manifests``. Pure: no I/O."""
    changes: list[Change] = []
    steps: dict[str, Step] = {}
    diagnostics: list[Diagnostic] = []
    declared = manifests.by_key()
    for key, desired in sorted(declared.items()):
        change, step, found = _plan_declared(
            desired, state.secrets.get(key), state.deleted.get(key), keyring, options
        )
        diagnostics.extend(found)
        if change is not None:
            changes.append(change)
        if step is not None:
            steps[step.address] = step

    scopes = frozenset(s.lower() for s in manifests.scopes)
    orphans = sorted(
        (
            actual
            for key, actual in state.secrets.items()
            if key not in declared and actual.owned and _scope_of(actual.name) in scopes
        ),
        key=lambda a: a.name.lower(),
    )
    if orphans and not options.prune:
        shown = ", ".join(a.name for a in orphans[:20]) + (" ..." if len(orphans) > 20 else "")
        diagnostics.append(
            Diagnostic(
                "warning",
                f"{len(orphans)} secret(s) managed by the sync are no longer declared",
                detail=f"{shown}\nRun with --prune to delete them (soft delete; never purged).",
            )
        )
    elif orphans and len(orphans) > options.prune_max:
        diagnostics.append(
            Diagnostic(
                "error",
                f"refusing to prune {len(orphans)} secrets: the limit is {options.prune_max}",
                detail=(
                    "Check that no manifest is missing, then raise the limit with "
                    f"--prune-max {len(orphans)} if these deletions are intended: "
                    + ", ".join(a.name for a in orphans[:20])
                    + (" ..." if len(orphans) > 20 else "")
                ),
            )
        )
    elif orphans:
        for actual in orphans:
            address = f"secret.{actual.name}"
            changes.append(
                Change(
                    address,
                    Action.DELETE,
                    reason="managed by the sync and no longer declared (--prune)",
                    notes=("soft delete: recoverable until purged; the sync never purges",),
                )
            )
            steps[address] = Step(address, actual.name, (Operation.DELETE,))
    return SyncPlan(Plan(tuple(changes), tuple(diagnostics)), steps, scopes)
