"""Plan a sync: compare the manifests with the vault's metadata, without I/O.

**Planning** (:func:`plan_sync`, pure): every secret the sync writes carries
the tags ``managed-by`` (ownership) and ``value-fingerprint`` (a keyed HMAC of
its value, :mod:`keyvault_platform.sync.fingerprint`). Each declared secret's
change follows two tables, which are data (:data:`NAME_RULES`,
:data:`VALUE_RULES`; rendered here by :func:`render_rules`, and a test keeps
this text equal to it). First, who holds the name in the vault:

===========================================  ======================================================
name held by                                 then
===========================================  ======================================================
nobody                                       the value rules
an active secret                             the value rules
a soft-deleted secret the sync owns          recover, then the value rules
a soft-deleted secret the sync does not own  error: the name {name} is held by a soft-deleted
                                             secret the sync does not own; nothing is written
a secret backing a certificate               error: {name} backs a Key Vault certificate; the sync
                                             does not manage it; nothing is written
===========================================  ======================================================

Then what the current version holds (for a recovered secret, the deleted
one). *value*: the manifest declares it (a source) or asks for it
generated; *differs*: metadata that ``update_secret_properties`` can set
differs; *clears*: a field must be cleared, which only a new version does;
``-``: either. The quoted text is the change's reason in the plan; a
recovery comes first and makes the action ``recover``.

=============================  =========  =======  ======  ========================================
current version                value      differs  clears  change
=============================  =========  =======  ======  ========================================
absent                         declared   -        -       create: set_secret
absent                         generated  -        -       create: set_secret (generated)
no sync fingerprint            declared   -        -       update: set_secret, drift; "the current
                                                           version carries no sync fingerprint: it
                                                           was set outside the manifests"
no sync fingerprint            generated  -        -       error: {name} exists but the sync did
                                                           not make it; generating a new value
                                                           would replace one that may be in use;
                                                           nothing is written
not ours, --adopt: equal       -          -        no      adopt: update_secret_properties; "not
                                                           made by the sync; --adopt found it holds
                                                           the manifest's value (no new version)"
not ours, --adopt: equal       -          -        yes     adopt: set_secret; "not made by the
                                                           sync; --adopt found it holds the
                                                           manifest's value; clearing {cleared}
                                                           needs a new version (same value)"
not ours, --adopt: differs     -          -        -       update: set_secret, drift; "not made by
                                                           the sync; --adopt found its value
                                                           differs from the manifest's"
not ours, --adopt: unreadable  declared   -        -       update: set_secret, drift; "not made by
                                                           the sync, and --adopt cannot read it to
                                                           compare ({unreadable}), so it is set
                                                           again"
not ours, --adopt: unreadable  generated  -        -       error: {name} exists but the sync did
                                                           not make it, and --adopt cannot read its
                                                           value to keep it ({unreadable}); nothing
                                                           is written
not ours, --adopt              -          -        no      adopt: update_secret_properties; "not
                                                           made by the sync; --adopt keeps its
                                                           generated value (no new version)"
not ours, --adopt              -          -        yes     adopt: update_secret_properties, warns:
                                                           cannot clear; "not made by the sync;
                                                           --adopt keeps its generated value (no
                                                           new version)"
fingerprint differs            -          -        -       update: set_secret; "the value at the
                                                           source differs from the vault's
                                                           (fingerprint mismatch)"
unknown key                    -          -        -       update: set_secret; "the fingerprint was
                                                           made with another key (id {key_id});
                                                           without it the value cannot be compared,
                                                           so it is set again"
fingerprint matches            -          -        yes     update: set_secret; "clearing {cleared}
                                                           needs a new version (same value)"
fingerprint matches            -          no       no      no-op
fingerprint matches            -          yes      no      update: update_secret_properties;
                                                           "metadata differs (no new version)"
previous key matches           -          -        yes     update: set_secret; "clearing {cleared}
                                                           needs a new version (same value)"
previous key matches           -          -        no      update: update_secret_properties, re-
                                                           tag; "fingerprint key rotated"
--rotate                       -          -        -       update: set_secret (generated);
                                                           "rotation requested (--rotate): a new
                                                           value will be generated"
ours, generated                -          no       no      no-op
ours, generated                -          yes      no      update: update_secret_properties;
                                                           "metadata differs (no new version)"
ours, generated                -          no       yes     no-op, warns: cannot clear
ours, generated                -          yes      yes     update: update_secret_properties, warns:
                                                           cannot clear; "metadata differs (no new
                                                           version)"
ours, planned without values   -          -        yes     update: set_secret; "clearing {cleared}
                                                           needs a new version (same value)"
ours, planned without values   -          no       no      update: decided at apply; "the value is
                                                           compared at apply (this plan was made
                                                           without values)"
ours, planned without values   -          yes      no      update: decided at apply; "metadata
                                                           differs (no new version); the value is
                                                           compared at apply (this plan was made
                                                           without values)"
=============================  =========  =======  ======  ========================================

Generated values are never read, so for them "fingerprint matches" means
"carries our fingerprint"; they are generated only when created or named
with ``--rotate``. One that exists without the sync's ownership is refused
(its value may be in use), unless ``--adopt`` keeps it or ``--rotate``
replaces it. ``--adopt`` reads each declared secret held without the sync's
ownership once, before planning (:mod:`keyvault_platform.sync.adoption`),
and the rows marked ``--adopt`` use what it found. A plan made without
values (``keyring=None``) leaves the comparison of an owned secret's value to
the apply. Secrets the sync owns in the scopes being synced that no manifest
declares are deleted only with ``prune=True``, at most ``prune_max`` of them
(more is an error), and never purged. A scope whose manifest is gone is no
longer synced, so pruning never reaches it: ``offboard`` names such scopes,
and every secret the sync owns in them is deleted the same way (within the
same ``prune_max``); secrets it does not own are left alone.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, assert_never

from orgsecrets import naming

from keyvault_platform.core.errors import InputError
from keyvault_platform.core.plan import (
    ABSENT,
    DEFERRED,
    REDACTED,
    Action,
    Change,
    Diagnostic,
    FieldDiff,
    Plan,
)
from keyvault_platform.core.saved_plan import record
from keyvault_platform.core.tables import rst_table
from keyvault_platform.core.yaml_source import Location, Problem
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.adoption import Adoption
from keyvault_platform.sync.manifests import (
    FINGERPRINT_TAG,
    OWNER_TAG,
    DesiredSecret,
    ManifestSet,
    Moment,
)
from keyvault_platform.sync.vault_state import (
    ActualSecret,
    DeletedState,
    VaultState,
    deleted_record,
    secret_record,
)

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

    ``planned_version`` is the version the change was planned against, as
    the listing showed it (``None``: the name was free). The listing of a
    vault's secrets names no version id, so the apply finds the id by
    listing the secret's versions right before writing: a metadata-only
    update is sent to that exact version, and an update or a prune is
    refused when the latest version is no longer the planned one.
    """

    address: str
    name: str
    operations: tuple[Operation, ...]
    desired: DesiredSecret | None = None
    regenerate: bool = False
    keep_fingerprint: str | None = None  # a generated secret's current tag, kept as is
    value_set_at: datetime | None = None
    planned_version: ActualSecret | None = None

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
    adopt: bool = False  # take ownership of unowned declared secrets (read once to compare)
    offboard: frozenset[str] = frozenset()  # lower-cased scopes no manifest declares any more


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


def check_offboard(manifests: ManifestSet, scopes: Iterable[str]) -> frozenset[str]:
    """Validate ``--offboard`` scopes before any network call; returns them lower-cased.

    Each must be an org id (not GLOBAL) that no manifest declares: offboarding
    removes a scope whose manifest is gone, never one still declared.
    """
    declared = {s.lower(): s for s in manifests.scopes}
    files = {s.scope.lower(): s.location.file for s in manifests.secrets}
    problems = []
    result = set()
    for scope in scopes:
        where = Location("--offboard")
        try:
            naming.validate_org_id(scope)
        except naming.InvalidSecretNameError as exc:
            problems.append(Problem(where, f"{scope!r}: {exc}"))
            continue
        if scope.lower() in declared:
            in_file = files.get(scope.lower())
            problems.append(
                Problem(
                    where,
                    f"scope '{declared[scope.lower()]}' is still declared"
                    + (f" in {in_file}" if in_file else "")
                    + ": offboarding removes a scope whose manifest is gone; delete the "
                    "manifest first (or drop secrets from it and use --prune)",
                )
            )
            continue
        result.add(scope.lower())
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


def _value_field(desired: DesiredSecret, old_exists: bool) -> FieldDiff:
    """The value's diff: redacted, unless the manifest declares a literal ``sensitive: false``.

    The vault's own value is never read, so its side is always redacted.
    """
    old = REDACTED if old_exists else ABSENT
    shown = desired.shown_value
    if shown is not None:
        return FieldDiff("value", old, shown)
    return FieldDiff("value", old, REDACTED, sensitive=True)


# --------------------------------------------------------------------------
# The rules: who holds the declared name, then what the current version holds


class Holder(enum.Enum):
    """Who holds a declared secret's name in the vault."""

    NOBODY = "nobody"
    ACTIVE = "an active secret"
    DELETED_OURS = "a soft-deleted secret the sync owns"
    DELETED_FOREIGN = "a soft-deleted secret the sync does not own"
    CERTIFICATE = "a secret backing a certificate"  # active, or soft-deleted and ours


@dataclass(frozen=True)
class NameRule:
    """What to do about the secret holding the name, before looking at its value.

    ``refusal`` (formatted with the holder's ``name``) makes planning fail
    for this secret; otherwise the value rules decide, after a recovery when
    ``recover`` is set.
    """

    holder: Holder
    recover: bool = False
    refusal: str | None = None


NAME_RULES: tuple[NameRule, ...] = (
    NameRule(Holder.NOBODY),
    NameRule(Holder.ACTIVE),
    NameRule(Holder.DELETED_OURS, recover=True),
    NameRule(
        Holder.DELETED_FOREIGN,
        refusal="the name {name} is held by a soft-deleted secret the sync does not own",
    ),
    NameRule(
        Holder.CERTIFICATE,
        refusal="{name} backs a Key Vault certificate; the sync does not manage it",
    ),
)


class Version(enum.Enum):
    """What the current version's tags say about the declared value (never read)."""

    ABSENT = "absent"
    UNTAGGED = "no sync fingerprint"  # not ours, or a version set by hand
    MATCH = "fingerprint matches"
    PREVIOUS_KEY = "previous key matches"
    MISMATCH = "fingerprint differs"
    UNKNOWN_KEY = "unknown key"  # made with a key we do not hold
    GENERATED = "ours, generated"  # a generated value: never read, so never compared
    ROTATE = "--rotate"  # a generated value named for rotation (ours or not)
    ADOPT_EQUAL = "not ours, --adopt: equal"  # read once: it holds the manifest's value
    ADOPT_DIFFERS = "not ours, --adopt: differs"  # read once: it holds another value
    ADOPT_KEPT = "not ours, --adopt"  # a generated secret: its value is kept
    ADOPT_UNREADABLE = "not ours, --adopt: unreadable"  # disabled: its value cannot be read
    DEFERRED = "ours, planned without values"  # compared at apply, with the values


class Write(enum.Enum):
    """What a change writes to the current version."""

    NOTHING = "nothing"
    PROPERTIES = "update_secret_properties"
    VALUE = "set_secret"
    NEW_VALUE = "set_secret (generated)"
    COMPARED_AT_APPLY = "decided at apply"  # a plan made without values is never applied as is

    @property
    def operations(self) -> tuple[Operation, ...]:
        match self:
            case Write.NOTHING | Write.COMPARED_AT_APPLY:
                return ()
            case Write.PROPERTIES:
                return (Operation.UPDATE_PROPERTIES,)
            case Write.VALUE | Write.NEW_VALUE:
                return (Operation.SET,)
            case _:
                assert_never(self)


@dataclass(frozen=True)
class Observation:
    """The facts about one declared secret that the value rules look at."""

    version: Version
    generated: bool  # the manifest asks for a generated value
    metadata_differs: bool  # fields differ that update_secret_properties can set
    must_clear: bool  # a field to clear, which only a new version does


@dataclass(frozen=True)
class Outcome:
    """The planned change for one situation.

    ``reason`` may name ``{key_id}`` (the fingerprint's key) and
    ``{cleared}`` (the fields to clear).
    """

    action: Action  # create, update or no-op; a recovery makes it recover
    write: Write
    reason: str | None = None
    drift: bool = False
    retag: bool = False  # re-tag with the current key's fingerprint
    warn_uncleared: bool = False  # warn: the fields to clear stay (no new value without rotation)
    refusal: str | None = None  # planning refuses this secret (formatted with ``name``)


@dataclass(frozen=True)
class ValueRule:
    """One row of :data:`VALUE_RULES`: a situation and its outcome; ``None`` matches either."""

    version: Version
    outcome: Outcome
    generated: bool | None = None
    metadata_differs: bool | None = None
    must_clear: bool | None = None

    def applies(self, seen: Observation) -> bool:
        return (
            self.version is seen.version
            and self.generated in (None, seen.generated)
            and self.metadata_differs in (None, seen.metadata_differs)
            and self.must_clear in (None, seen.must_clear)
        )


_NO_FINGERPRINT = (
    "the current version carries no sync fingerprint: it was set outside the manifests"
)
_CLEARING = "clearing {cleared} needs a new version (same value)"
_METADATA = "metadata differs (no new version)"
_ADOPTED = "not made by the sync; --adopt found it holds the manifest's value"
_ADOPTED_KEPT = "not made by the sync; --adopt keeps its generated value"
_COMPARED_AT_APPLY = "the value is compared at apply (this plan was made without values)"

#: Exactly one row applies to every observation (a unit test goes through them all).
VALUE_RULES: tuple[ValueRule, ...] = (
    ValueRule(Version.ABSENT, Outcome(Action.CREATE, Write.VALUE), generated=False),
    ValueRule(Version.ABSENT, Outcome(Action.CREATE, Write.NEW_VALUE), generated=True),
    ValueRule(
        Version.UNTAGGED,
        Outcome(Action.UPDATE, Write.VALUE, _NO_FINGERPRINT, drift=True),
        generated=False,
    ),
    # Never regenerated silently: the value may be in use (issue: adopting a
    # vault made by hand must not rotate its signing keys).
    ValueRule(
        Version.UNTAGGED,
        Outcome(
            Action.NO_OP,
            Write.NOTHING,
            refusal="{name} exists but the sync did not make it; generating a new value "
            "would replace one that may be in use",
        ),
        generated=True,
    ),
    ValueRule(
        Version.ADOPT_EQUAL,
        Outcome(Action.ADOPT, Write.PROPERTIES, _ADOPTED + " (no new version)"),
        must_clear=False,
    ),
    ValueRule(
        Version.ADOPT_EQUAL,
        Outcome(Action.ADOPT, Write.VALUE, _ADOPTED + "; " + _CLEARING),
        must_clear=True,
    ),
    ValueRule(
        Version.ADOPT_DIFFERS,
        Outcome(
            Action.UPDATE,
            Write.VALUE,
            "not made by the sync; --adopt found its value differs from the manifest's",
            drift=True,
        ),
    ),
    ValueRule(
        Version.ADOPT_UNREADABLE,
        Outcome(
            Action.UPDATE,
            Write.VALUE,
            "not made by the sync, and --adopt cannot read it to compare ({unreadable}), so "
            "it is set again",
            drift=True,
        ),
        generated=False,
    ),
    ValueRule(
        Version.ADOPT_UNREADABLE,
        Outcome(
            Action.NO_OP,
            Write.NOTHING,
            refusal="{name} exists but the sync did not make it, and --adopt cannot read its "
            "value to keep it ({unreadable})",
        ),
        generated=True,
    ),
    ValueRule(
        Version.ADOPT_KEPT,
        Outcome(Action.ADOPT, Write.PROPERTIES, _ADOPTED_KEPT + " (no new version)"),
        must_clear=False,
    ),
    ValueRule(
        Version.ADOPT_KEPT,
        Outcome(
            Action.ADOPT, Write.PROPERTIES, _ADOPTED_KEPT + " (no new version)", warn_uncleared=True
        ),
        must_clear=True,
    ),
    ValueRule(
        Version.MISMATCH,
        Outcome(
            Action.UPDATE,
            Write.VALUE,
            "the value at the source differs from the vault's (fingerprint mismatch)",
        ),
    ),
    ValueRule(
        Version.UNKNOWN_KEY,
        Outcome(
            Action.UPDATE,
            Write.VALUE,
            "the fingerprint was made with another key (id {key_id}); without it the value "
            "cannot be compared, so it is set again",
        ),
    ),
    ValueRule(Version.MATCH, Outcome(Action.UPDATE, Write.VALUE, _CLEARING), must_clear=True),
    ValueRule(
        Version.MATCH,
        Outcome(Action.NO_OP, Write.NOTHING),
        metadata_differs=False,
        must_clear=False,
    ),
    ValueRule(
        Version.MATCH,
        Outcome(Action.UPDATE, Write.PROPERTIES, _METADATA),
        metadata_differs=True,
        must_clear=False,
    ),
    ValueRule(
        Version.PREVIOUS_KEY, Outcome(Action.UPDATE, Write.VALUE, _CLEARING), must_clear=True
    ),
    ValueRule(
        Version.PREVIOUS_KEY,
        Outcome(Action.UPDATE, Write.PROPERTIES, "fingerprint key rotated", retag=True),
        must_clear=False,
    ),
    ValueRule(
        Version.ROTATE,
        Outcome(
            Action.UPDATE,
            Write.NEW_VALUE,
            "rotation requested (--rotate): a new value will be generated",
        ),
    ),
    ValueRule(
        Version.GENERATED,
        Outcome(Action.NO_OP, Write.NOTHING),
        metadata_differs=False,
        must_clear=False,
    ),
    ValueRule(
        Version.GENERATED,
        Outcome(Action.UPDATE, Write.PROPERTIES, _METADATA),
        metadata_differs=True,
        must_clear=False,
    ),
    ValueRule(
        Version.GENERATED,
        Outcome(Action.NO_OP, Write.NOTHING, warn_uncleared=True),
        metadata_differs=False,
        must_clear=True,
    ),
    ValueRule(
        Version.GENERATED,
        Outcome(Action.UPDATE, Write.PROPERTIES, _METADATA, warn_uncleared=True),
        metadata_differs=True,
        must_clear=True,
    ),
    ValueRule(Version.DEFERRED, Outcome(Action.UPDATE, Write.VALUE, _CLEARING), must_clear=True),
    ValueRule(
        Version.DEFERRED,
        Outcome(Action.UPDATE, Write.COMPARED_AT_APPLY, _COMPARED_AT_APPLY),
        metadata_differs=False,
        must_clear=False,
    ),
    ValueRule(
        Version.DEFERRED,
        Outcome(Action.UPDATE, Write.COMPARED_AT_APPLY, _METADATA + "; " + _COMPARED_AT_APPLY),
        metadata_differs=True,
        must_clear=False,
    ),
)


def name_rule(holder: Holder) -> NameRule:
    """The row of :data:`NAME_RULES` for ``holder``."""
    (rule,) = (r for r in NAME_RULES if r.holder is holder)
    return rule


def value_rule(seen: Observation) -> ValueRule:
    """The one row of :data:`VALUE_RULES` that applies to ``seen``."""
    rules = [r for r in VALUE_RULES if r.applies(seen)]
    if len(rules) != 1:  # the table is wrong, not the input: a unit test goes through all cases
        raise LookupError(f"{len(rules)} value rules apply to {seen}")
    return rules[0]


def holder_of(actual: ActualSecret | None, deleted: DeletedState | None) -> Holder:
    """Who holds the name: an active secret first (Key Vault keeps one or the other)."""
    if actual is None and deleted is not None:
        if not deleted.owned:
            return Holder.DELETED_FOREIGN
        return Holder.CERTIFICATE if deleted.actual.managed else Holder.DELETED_OURS
    if actual is None:
        return Holder.NOBODY
    return Holder.CERTIFICATE if actual.managed else Holder.ACTIVE


def version_of(
    desired: DesiredSecret,
    actual: ActualSecret | None,
    keyring: fp.Keyring | None,
    options: SyncOptions,
    adoption: Adoption | None = None,
) -> Version:
    """What ``actual``'s fingerprint (or what --adopt read of it) says of the declared value.

    Without a ``keyring`` (a plan made without values) a fingerprint of
    ours cannot be checked: the value is compared at apply.
    """
    if actual is None:
        return Version.ABSENT
    tag = actual.tags.get(FINGERPRINT_TAG)
    if not actual.owned or fp.parse(tag) is None:
        if desired.generated and desired.vault_name.lower() in options.rotate:
            return Version.ROTATE
        if adoption is None:
            return Version.UNTAGGED
        if adoption.unreadable is not None:
            return Version.ADOPT_UNREADABLE
        if desired.generated:
            return Version.ADOPT_KEPT
        return Version.ADOPT_EQUAL if adoption.equal else Version.ADOPT_DIFFERS
    if desired.generated:
        return Version.ROTATE if desired.vault_name.lower() in options.rotate else Version.GENERATED
    if keyring is None:
        return Version.DEFERRED
    assert desired.value is not None
    verdict = keyring.verify(tag, desired.vault_name, desired.value.reveal())
    match verdict:
        case fp.Verdict.MATCH:
            return Version.MATCH
        case fp.Verdict.MATCH_PREVIOUS_KEY:
            return Version.PREVIOUS_KEY
        case fp.Verdict.MISMATCH:
            return Version.MISMATCH
        case fp.Verdict.UNKNOWN_KEY:
            return Version.UNKNOWN_KEY
        case fp.Verdict.MISSING:
            return Version.UNTAGGED
        case _:
            assert_never(verdict)


def observe(
    desired: DesiredSecret,
    actual: ActualSecret | None,
    keyring: fp.Keyring | None,
    options: SyncOptions,
    adoption: Adoption | None = None,
) -> Observation:
    """What the value rules look at, for ``desired`` and the version that holds its name."""
    return _observe(desired, actual, keyring, options, adoption)[0]


def _observe(
    desired: DesiredSecret,
    actual: ActualSecret | None,
    keyring: fp.Keyring | None,
    options: SyncOptions,
    adoption: Adoption | None = None,
) -> tuple[Observation, _Comparison]:
    # The metadata as it stands: what the rules that keep the current value compare.
    comparison = _compare_metadata(desired, actual, actual.created_on if actual else None)
    cleared = comparison.needs_new_version
    seen = Observation(
        version=version_of(desired, actual, keyring, options, adoption),
        generated=desired.generated,
        metadata_differs=any(f.name not in cleared for f in comparison.fields),
        must_clear=bool(cleared),
    )
    return seen, comparison


def render_rules() -> str:
    """:data:`NAME_RULES` and :data:`VALUE_RULES` as reStructuredText tables (the docstring's)."""

    def either(flag: bool | None, yes: str = "yes", no: str = "no") -> str:
        return "-" if flag is None else (yes if flag else no)

    names = [
        (
            rule.holder.value,
            f"error: {rule.refusal}; nothing is written"
            if rule.refusal
            else ("recover, then the value rules" if rule.recover else "the value rules"),
        )
        for rule in NAME_RULES
    ]
    values = []
    for rule in VALUE_RULES:
        outcome = rule.outcome
        if outcome.refusal is not None:
            values.append(
                (
                    rule.version.value,
                    either(rule.generated, "generated", "declared"),
                    either(rule.metadata_differs),
                    either(rule.must_clear),
                    f"error: {outcome.refusal}; nothing is written",
                )
            )
            continue
        change = outcome.action.value
        if outcome.write is not Write.NOTHING:
            change += f": {outcome.write.value}"
        change += "".join(
            extra
            for extra, present in (
                (", re-tag", outcome.retag),
                (", drift", outcome.drift),
                (", warns: cannot clear", outcome.warn_uncleared),
                (f'; "{outcome.reason}"', outcome.reason is not None),
            )
            if present
        )
        values.append(
            (
                rule.version.value,
                either(rule.generated, "generated", "declared"),
                either(rule.metadata_differs),
                either(rule.must_clear),
                change,
            )
        )
    return (
        rst_table(("name held by", "then"), names)
        + "\n\n"
        + rst_table(("current version", "value", "differs", "clears", "change"), values)
    )


def _refusal(
    holder: Holder,
    rule: NameRule,
    desired: DesiredSecret,
    actual: ActualSecret | None,
    deleted: DeletedState | None,
) -> Diagnostic:
    assert rule.refusal is not None
    if holder is Holder.DELETED_FOREIGN:
        assert deleted is not None
        return Diagnostic(
            "error",
            rule.refusal.format(name=deleted.name),
            detail=(
                f"Deleted {_iso(deleted.deleted_on) or '(unknown date)'}, purge "
                f"scheduled {_iso(deleted.scheduled_purge_on) or '(unknown)'}. "
                "If it is the same secret, recover it by hand "
                f"(az keyvault secret recover --name {deleted.name}) and re-run; "
                "otherwise choose another name. The sync never purges.\n"
                f"Declared at {desired.location}."
            ),
            address=desired.address,
        )
    holding = actual if actual is not None else (deleted.actual if deleted else None)
    assert holding is not None
    return Diagnostic(
        "error",
        rule.refusal.format(name=holding.name),
        detail=f"Remove it from the manifest at {desired.location}.",
        address=desired.address,
    )


def _not_ours_generated(
    desired: DesiredSecret, refusal: str, adoption: Adoption | None
) -> Diagnostic:
    name = desired.vault_name
    unreadable = adoption.unreadable if adoption is not None else None
    keep = (
        "To keep its value, enable it by hand (az keyvault secret set-attributes --enabled "
        "true), adopt it (sync --adopt), then declare enabled: false."
        if unreadable is not None
        else "To keep its value and manage it from now on, adopt it: sync --adopt."
    )
    return Diagnostic(
        "error",
        refusal.format(name=name, unreadable=unreadable),
        detail=(
            f"{keep} To replace it on purpose with a new generated value: sync --rotate "
            f"{name}.\nDeclared at {desired.location}."
        ),
        address=desired.address,
    )


def _plan_declared(
    desired: DesiredSecret,
    actual: ActualSecret | None,
    deleted: DeletedState | None,
    keyring: fp.Keyring | None,
    options: SyncOptions,
    adoption: Adoption | None = None,
) -> tuple[Change | None, Step | None, list[Diagnostic]]:
    """One declared secret's change, by :data:`NAME_RULES` then :data:`VALUE_RULES`."""
    address = desired.address
    holder = holder_of(actual, deleted)
    naming_rule = name_rule(holder)
    if naming_rule.refusal is not None:
        return None, None, [_refusal(holder, naming_rule, desired, actual, deleted)]
    if holder is not Holder.ACTIVE:
        adoption = None  # only an active secret is read for adoption
    if adoption is not None and adoption.changed:
        return (
            None,
            None,
            [
                Diagnostic(
                    "error",
                    f"{desired.vault_name} changed while it was read for adoption",
                    detail="A new version was set between the listing and the read; "
                    "re-run to plan against it. Nothing is written.",
                    address=address,
                )
            ],
        )
    diagnostics: list[Diagnostic] = []
    operations: list[Operation] = []
    notes: list[str] = [] if desired.generated else [f"value from {desired.source}"]
    if naming_rule.recover:
        assert deleted is not None
        actual = deleted.actual
        operations.append(Operation.RECOVER)
        notes.append(
            f"soft-deleted {_iso(deleted.deleted_on) or '(unknown date)'} "
            f"(purge scheduled {_iso(deleted.scheduled_purge_on) or 'unknown'}); "
            "carries the sync's ownership tag"
        )

    seen, comparison = _observe(desired, actual, keyring, options, adoption)
    cleared = comparison.needs_new_version
    outcome = value_rule(seen).outcome
    if outcome.refusal is not None:
        return None, None, [_not_ours_generated(desired, outcome.refusal, adoption)]
    if adoption is not None and seen.version not in (Version.ROTATE, Version.ADOPT_UNREADABLE):
        notes.append(
            "read once by --adopt to compare (the sync identity's Key Vault Secrets Officer "
            "role includes secrets/getSecret); the value is not kept"
            if not desired.generated
            else "read once by --adopt to fingerprint the kept value; the value is not kept"
        )
    tag = actual.tags.get(FINGERPRINT_TAG) if actual else None
    parsed = fp.parse(tag)
    reason = (
        outcome.reason.format(
            key_id=parsed.key_id if parsed else "?",
            cleared=", ".join(cleared),
            unreadable=adoption.unreadable if adoption else None,
        )
        if outcome.reason
        else None
    )
    sets_value = outcome.write in (Write.VALUE, Write.NEW_VALUE)
    regenerate = outcome.write is Write.NEW_VALUE
    base = None if sets_value else (actual.created_on if actual else None)
    if outcome.write is Write.COMPARED_AT_APPLY:
        fields = [
            FieldDiff("value", REDACTED, DEFERRED, sensitive=True),
            *(f for f in comparison.fields if f.name not in cleared),
        ]
    elif sets_value:
        fields = [
            _value_field(desired, actual is not None),
            *_compare_metadata(desired, actual, None).fields,
        ]
        if regenerate and desired.generator is not None:
            notes.append(f"a new value of {desired.generator} will be generated")
    else:
        fields = [f for f in comparison.fields if f.name not in cleared]
    if outcome.warn_uncleared:
        diagnostics.append(
            Diagnostic(
                "warning",
                f"cannot clear {', '.join(cleared)} of a generated secret without a new value",
                detail=(
                    "Key Vault clears these only with a new version, and the sync never "
                    f"reads values; rotate it (--rotate {desired.vault_name}) or set "
                    f"{', '.join(cleared)} explicitly. Declared at {desired.location}."
                ),
                address=address,
            )
        )
    if outcome.retag:
        assert keyring is not None  # a previous key matched
        fields.append(
            FieldDiff("fingerprint_key", parsed.key_id if parsed else None, keyring.current.key_id)
        )
    operations.extend(outcome.write.operations)
    action = outcome.action
    if naming_rule.recover:
        action = Action.RECOVER
        reason = "the declared name is soft-deleted and owned by the sync" + (
            f"; then {reason}" if reason else ""
        )
    if action is Action.NO_OP:
        return Change(address, Action.NO_OP), None, diagnostics
    change = Change(
        address,
        action,
        fields=tuple(fields),
        reason=reason,
        drift=outcome.drift,
        notes=tuple(notes),
    )
    step = Step(
        address=address,
        name=desired.vault_name,
        operations=tuple(operations),
        desired=desired,
        regenerate=regenerate,
        keep_fingerprint=(
            tag
            if seen.version is Version.GENERATED
            else adoption.fingerprint
            if adoption is not None and outcome.write is Write.PROPERTIES
            else None
        ),
        value_set_at=base,
        planned_version=actual,
    )
    return change, step, diagnostics


def _scope_of(name: str) -> str | None:
    try:
        return naming.parse_secret_name(name).scope.lower()
    except naming.InvalidSecretNameError:
        return None


def _offboarded(
    state: VaultState, offboard: frozenset[str]
) -> tuple[list[ActualSecret], list[Diagnostic]]:
    """The owned secrets of each offboarded scope, and a warning per scope about the rest."""
    leaving: list[ActualSecret] = []
    diagnostics: list[Diagnostic] = []
    for scope in sorted(offboard):
        in_scope = [a for a in state.secrets.values() if _scope_of(a.name) == scope]
        owned = sorted((a for a in in_scope if a.owned), key=lambda a: a.name.lower())
        foreign = len(in_scope) - len(owned)
        leaving.extend(owned)
        if not owned:
            diagnostics.append(
                Diagnostic("warning", f"--offboard {scope}: the sync owns no secret in this scope")
            )
        if foreign:
            diagnostics.append(
                Diagnostic(
                    "warning",
                    f"--offboard {scope}: {foreign} secret(s) in this scope are not the sync's "
                    "(no ownership tag) and are left alone",
                )
            )
    return leaving, diagnostics


def plan_sync(
    manifests: ManifestSet,
    state: VaultState,
    keyring: fp.Keyring | None,
    options: SyncOptions = SyncOptions(),
    adoptions: Mapping[str, Adoption] | None = None,
) -> SyncPlan:
    """The changes that make the vault match ``manifests``. Pure: no I/O.

    ``keyring=None`` makes a plan without values (``manifests`` loaded with
    ``resolve_values=False``): everything but the comparison of a declared
    value with a fingerprint of ours is planned as usual; that comparison
    is left to the apply (:data:`Version.DEFERRED`). Such a plan is shown
    and saved, never applied as is. ``adoptions`` (lower-cased name to
    finding; :mod:`~keyvault_platform.sync.adoption`) holds what ``--adopt``
    read of unowned declared secrets.
    """
    adoptions = adoptions or {}
    changes: list[Change] = []
    steps: dict[str, Step] = {}
    diagnostics: list[Diagnostic] = []
    declared = manifests.by_key()
    for key, desired in sorted(declared.items()):
        change, step, found = _plan_declared(
            desired,
            state.secrets.get(key),
            state.deleted.get(key),
            keyring,
            options,
            adoptions.get(key),
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
    leaving, found = _offboarded(state, options.offboard)
    diagnostics.extend(found)
    deletions = [*(orphans if options.prune else ()), *leaving]
    if orphans and not options.prune:
        shown = ", ".join(a.name for a in orphans[:20]) + (" ..." if len(orphans) > 20 else "")
        diagnostics.append(
            Diagnostic(
                "warning",
                f"{len(orphans)} secret(s) managed by the sync are no longer declared",
                detail=f"{shown}\nRun with --prune to delete them (soft delete; never purged).",
            )
        )
    if len(deletions) > options.prune_max:
        diagnostics.append(
            Diagnostic(
                "error",
                f"refusing to prune {len(deletions)} secrets: the limit is {options.prune_max}",
                detail=(
                    "Check that no manifest is missing, then raise the limit with "
                    f"--prune-max {len(deletions)} if these deletions are intended: "
                    + ", ".join(a.name for a in deletions[:20])
                    + (" ..." if len(deletions) > 20 else "")
                ),
            )
        )
    else:
        offboarded = {a.name for a in leaving}
        for actual in deletions:
            address = f"secret.{actual.name}"
            changes.append(
                Change(
                    address,
                    Action.DELETE,
                    reason=(
                        f"managed by the sync in scope '{_scope_of(actual.name)}', which is "
                        "offboarded (--offboard)"
                        if actual.name in offboarded
                        else "managed by the sync and no longer declared (--prune)"
                    ),
                    notes=("soft delete: recoverable until purged; the sync never purges",),
                )
            )
            steps[address] = Step(address, actual.name, (Operation.DELETE,), planned_version=actual)
    return SyncPlan(Plan(tuple(changes), tuple(diagnostics)), steps, scopes)


def planned_against(
    manifests: ManifestSet, state: VaultState, offboard: frozenset[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """What a sync plan depends on in the vault, as saved-plan records by address.

    The declared names (each active, soft-deleted or absent) and the secrets
    the sync owns in the synced and offboarded scopes (what a prune looks at). Other secrets
    (an app's own, other scopes) cannot change the plan, so a change to them
    leaves a saved plan fresh.
    """
    declared = manifests.by_key()
    scopes = frozenset(s.lower() for s in manifests.scopes) | offboard
    keys = set(declared) | {
        key
        for key, actual in state.secrets.items()
        if actual.owned and _scope_of(actual.name) in scopes
    }
    records: dict[str, dict[str, Any]] = {}
    for key in sorted(keys):
        active = state.secrets.get(key)
        deleted = state.deleted.get(key)
        name = declared[key].vault_name if key in declared else state.secrets[key].name
        records[f"secret.{name}"] = record(
            active=secret_record(active) if active is not None else None,
            deleted=deleted_record(deleted) if deleted is not None else None,
        )
    return records
