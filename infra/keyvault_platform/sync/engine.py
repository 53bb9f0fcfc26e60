"""Make a vault match the manifests, without reading a single value.

::

    manifests (validated)  +  vault state (one listing of secrets, one of
    deleted secrets; metadata and tags only)  ->  SyncPlan  ->  apply

**Reading the vault** (:func:`read_vault_state`): one paged
``list_properties_of_secrets`` and one paged ``list_deleted_secrets``. Both
return tags, never values.

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

**Applying** (:func:`apply_sync`): executes exactly the plan's pending
changes on a bounded thread pool, each request paced under Key Vault's
limits (:mod:`keyvault_platform.sync.pacing`); a 429's ``Retry-After`` holds every worker.
Transient failures (429, 5xx, dropped connections) are retried; one failing
secret does not stop the others; the result names what failed. What can race
is re-checked: right before pruning, the vault is listed again (metadata) and
a secret whose current version is no longer ours is left alone, and one
already deleted counts as done (with a warning); a create that
meets a soft-deleted name fails with a clear message; follow-ups of a recover
wait for it.

**Interrupting** (Ctrl-C): queued changes are cancelled, requests not yet
sent are not sent, the ones in flight finish, and :class:`ApplyInterrupted`
(a ``KeyboardInterrupt``) carries the partial result: what was applied and
what was not.

No value appears in a plan, a log line, an exception or a repr: values live
in :class:`~keyvault_platform.sync.manifests.SecretValue` until the ``set_secret`` call.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
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
    OWNER_VALUE,
    DesiredSecret,
    ManifestSet,
    Moment,
    SecretValue,
)
from keyvault_platform.sync.pacing import Budget, VaultPacer
from keyvault_platform.target.azure_errors import inner_code

log = logging.getLogger(__name__)

DEFAULT_PRUNE_MAX = 10
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 4
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: How long follow-ups of a recover keep retrying 404/409 while it completes.
RECOVERY_WAIT_S = 60.0


# --------------------------------------------------------------------------
# The vault as listed (metadata only)


@dataclass(frozen=True)
class ActualSecret:
    """A secret's current version as ``list_properties_of_secrets`` shows it."""

    name: str
    tags: Mapping[str, str]
    content_type: str | None
    enabled: bool
    expires_on: datetime | None
    not_before: datetime | None
    created_on: datetime | None
    managed: bool = False  # backs a certificate: never ours to touch

    @property
    def owned(self) -> bool:
        return self.tags.get(OWNER_TAG) == OWNER_VALUE


@dataclass(frozen=True)
class DeletedState:
    """A soft-deleted secret as ``list_deleted_secrets`` shows it."""

    name: str
    tags: Mapping[str, str]
    actual: ActualSecret
    deleted_on: datetime | None
    scheduled_purge_on: datetime | None

    @property
    def owned(self) -> bool:
        return self.tags.get(OWNER_TAG) == OWNER_VALUE


@dataclass(frozen=True)
class VaultState:
    """Active and soft-deleted secrets, keyed by lower-cased name."""

    secrets: Mapping[str, ActualSecret]
    deleted: Mapping[str, DeletedState]
    list_requests: int = 0


def _actual(properties: Any) -> ActualSecret:
    return ActualSecret(
        name=properties.name,
        tags=dict(properties.tags or {}),
        content_type=properties.content_type,
        enabled=properties.enabled is not False,
        expires_on=properties.expires_on,
        not_before=properties.not_before,
        created_on=properties.created_on,
        managed=bool(getattr(properties, "managed", False)),
    )


def _paged(pager: Any, pacer: VaultPacer | None) -> Iterator[tuple[int, Any]]:
    """Items of an ``ItemPaged``, pacing each page request; yields (page number, item)."""
    pages = pager.by_page()
    number = 0
    while True:
        if pacer is not None:
            pacer.acquire(Budget.OTHER)
        page = next(pages, None)
        if page is None:
            return
        number += 1
        for item in page:
            yield number, item


def list_secrets(
    client: Any, *, pacer: VaultPacer | None = None, hook: Callable[[Any], None] | None = None
) -> tuple[dict[str, ActualSecret], int]:
    """Active secrets by lower-cased name (one paged listing), and the pages it took."""
    extra = {"raw_response_hook": hook} if hook else {}
    secrets: dict[str, ActualSecret] = {}
    pages = 0
    for pages, properties in _paged(client.list_properties_of_secrets(**extra), pacer):  # noqa: B007
        secrets[properties.name.lower()] = _actual(properties)
    return secrets, max(pages, 1)


def read_vault_state(
    client: Any, *, pacer: VaultPacer | None = None, hook: Callable[[Any], None] | None = None
) -> VaultState:
    """List the vault's secrets and deleted secrets: metadata and tags, never values.

    Needs ``secrets/readMetadata/action`` (Key Vault Secrets Officer has it).
    """
    extra = {"raw_response_hook": hook} if hook else {}
    secrets, list_requests = list_secrets(client, pacer=pacer, hook=hook)
    deleted: dict[str, DeletedState] = {}
    pages = 0
    for pages, item in _paged(client.list_deleted_secrets(**extra), pacer):  # noqa: B007
        props = item.properties
        deleted[item.name.lower()] = DeletedState(
            name=item.name,
            tags=dict(props.tags or {}),
            actual=_actual(props),
            deleted_on=item.deleted_date,
            scheduled_purge_on=item.scheduled_purge_date,
        )
    list_requests += max(pages, 1)
    return VaultState(secrets, deleted, list_requests)


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


# --------------------------------------------------------------------------
# Apply


@dataclass(frozen=True)
class StepResult:
    """How one change went. ``error`` and ``note`` never hold a value.

    ``note`` says how a change that succeeded got there, when it was not the
    usual way (a prune that found its secret already deleted).
    """

    address: str
    action: Action
    ok: bool
    attempts: int
    error: str | None = None
    note: str | None = None
    #: Not applied because the apply was interrupted before its request went out.
    interrupted: bool = False


@dataclass
class ApplyResult:
    results: list[StepResult]
    elapsed_s: float
    throttled: int = 0  # 429 responses met (including those the SDK retried)
    interrupted: bool = False  # Ctrl-C: some changes were not applied (see not_applied)

    @property
    def failed(self) -> list[StepResult]:
        return sorted(
            (r for r in self.results if not r.ok and not r.interrupted), key=lambda r: r.address
        )

    @property
    def not_applied(self) -> list[StepResult]:
        """Changes the interrupt stopped before any of their requests was sent."""
        return sorted((r for r in self.results if r.interrupted), key=lambda r: r.address)

    @property
    def succeeded(self) -> list[StepResult]:
        return [r for r in self.results if r.ok]


class StepFailed(Exception):
    """A step failed for good (after retries, or not retryable)."""


class _Stopping(Exception):
    """Raised in a worker instead of sending a request once the apply is interrupted."""


class ApplyInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`apply_sync`; ``result`` says what was applied and what was not.

    A ``KeyboardInterrupt``, so a caller that does not look for it still
    stops the way Ctrl-C stops (the command line exits 130).
    """

    def __init__(self, result: ApplyResult) -> None:
        super().__init__("apply interrupted")
        self.result = result


#: A prune whose secret someone else deleted: the desired state, reached.
ALREADY_DELETED = "already deleted since the plan was made; counted as destroyed"


class _ResponseWatch:
    """Counts 429s and holds the pacer for their ``Retry-After``; a raw_response_hook."""

    def __init__(self, pacer: VaultPacer | None) -> None:
        self.pacer = pacer
        self.throttled = 0
        self._lock = threading.Lock()

    def __call__(self, response: Any) -> None:
        http = response.http_response
        if http.status_code != 429:
            return
        with self._lock:
            self.throttled += 1
        if self.pacer is not None:
            self.pacer.hold(_retry_after_s(http.headers) or 1.0)


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        if headers.get(header):
            try:
                return float(headers[header]) * scale
            except ValueError:
                pass
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def describe_error(exc: BaseException) -> str:
    """A one-line description of an SDK error, without values or tokens."""
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None)
        inner = inner_code(exc)
        message = getattr(error, "message", None) or exc.reason or ""
        first = str(message).strip().splitlines()[0] if str(message).strip() else ""
        codes = "/".join(c for c in (code, inner) if c)
        return (
            f"HTTP {exc.status_code}"
            + (f" {codes}" if codes else "")
            + (f": {first}" if first else "")
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"connection failed: {type(exc).__name__}"
    if isinstance(exc, StepFailed):
        return str(exc)
    return type(exc).__name__


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in TRANSIENT_STATUSES
    return False


def _recovering(exc: BaseException) -> bool:
    """A follow-up met a recover still in progress (Azure completes it asynchronously)."""
    if isinstance(exc, ResourceNotFoundError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code == 409


def _is_deleted_conflict(exc: BaseException) -> bool:
    """A 409 because the name is held by a soft-deleted secret.

    Key Vault says so with the inner code ``ObjectIsDeletedButRecoverable``;
    only an error without an inner code is judged by its message.
    """
    if not isinstance(exc, HttpResponseError) or exc.status_code != 409:
        return False
    inner = inner_code(exc)
    if inner:
        return inner == "ObjectIsDeletedButRecoverable"
    return "deleted" in str(exc).lower()


ProgressCallback = Callable[[int, int, int], None]


class _Applier:
    def __init__(
        self,
        client: Any,
        keyring: fp.Keyring,
        pacer: VaultPacer | None,
        *,
        max_attempts: int,
        retry_base_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.keyring = keyring
        self.pacer = pacer
        self.watch = _ResponseWatch(pacer)
        self.max_attempts = max(1, max_attempts)
        self.retry_base_s = retry_base_s
        self.clock = clock
        # A fresh listing taken just before prunes, to re-check ownership.
        self.relisted: Mapping[str, ActualSecret] | None = None
        # Set on Ctrl-C: no request is sent after it, no retry is made.
        self.stopping = threading.Event()

    def _pace(self, budget: Budget) -> None:
        if self.pacer is not None:
            self.pacer.acquire(budget)

    def _call(self, budget: Budget, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._pace(budget)
        if self.stopping.is_set():
            raise _Stopping
        return function(*args, raw_response_hook=self.watch, **kwargs)

    def run(self, step: Step, action: Action) -> StepResult:
        value: SecretValue | None = None
        if step.desired is not None and Operation.SET in step.operations:
            # Generated once per change, reused by every retry of it.
            generator = step.desired.generator
            value = generator.generate() if generator is not None else step.desired.value
        done: set[Operation] = set()
        attempts = 0
        recovered_at: float | None = None
        note: str | None = None
        while True:
            attempts += 1
            try:
                for operation in step.operations:
                    if operation in done:
                        continue
                    note = self._operation(step, operation, value) or note
                    done.add(operation)
                    if operation is Operation.RECOVER:
                        recovered_at = time.monotonic()
                if note is not None:
                    log.info("%s: %s", step.address, note)
                return StepResult(step.address, action, True, attempts, note=note)
            except Exception as exc:
                if isinstance(exc, _Stopping):
                    return _interrupted_result(step, action, attempts, done)
                waiting_for_recovery = (
                    recovered_at is not None
                    and _recovering(exc)
                    and time.monotonic() - recovered_at < RECOVERY_WAIT_S
                )
                retry = waiting_for_recovery or (_transient(exc) and attempts < self.max_attempts)
                if retry and self.stopping.is_set():
                    message = describe_error(exc) + " (not retried: interrupted)"
                    log.warning("%s failed: %s", step.address, message)
                    return StepResult(step.address, action, False, attempts, message)
                if waiting_for_recovery:
                    attempts -= 1  # not a failure: the recover is still completing
                    time.sleep(min(2.0, self.retry_base_s * 4))
                    continue
                if _transient(exc) and attempts < self.max_attempts:
                    delay = self.retry_base_s * 2 ** (attempts - 1)
                    time.sleep(delay * (0.5 + random.random()))
                    continue
                message = describe_error(exc)
                if Operation.SET in step.operations and _is_deleted_conflict(exc):
                    message += (
                        " (the name was soft-deleted after planning; re-run to plan a recover)"
                    )
                log.warning("%s failed: %s", step.address, message)
                return StepResult(step.address, action, False, attempts, message)

    def _operation(self, step: Step, operation: Operation, value: SecretValue | None) -> str | None:
        """Make one SDK call; returns a note when the outcome was reached another way."""
        client = self.client
        match operation:
            case Operation.RECOVER:
                # No .wait(): the poller would read the value back (get_secret) to
                # see the recover finish. Follow-ups retry 404/409 instead.
                self._call(Budget.WRITE, client.begin_recover_deleted_secret, step.name)
            case Operation.DELETE:
                if not self._recheck_owned(step):
                    return ALREADY_DELETED
                try:
                    self._call(Budget.WRITE, client.begin_delete_secret, step.name)
                except ResourceNotFoundError:
                    # Deleted since the re-listing (or by an attempt whose answer was lost).
                    return ALREADY_DELETED
            case Operation.SET:
                desired = step.desired
                assert desired is not None and value is not None
                now = self.clock()
                secret_value = value.reveal()
                tags = {
                    **desired.tags,
                    OWNER_TAG: OWNER_VALUE,
                    FINGERPRINT_TAG: self.keyring.fingerprint(desired.vault_name, secret_value),
                }
                self._call(
                    Budget.WRITE,
                    client.set_secret,
                    desired.vault_name,
                    secret_value,
                    enabled=desired.enabled,
                    tags=tags,
                    content_type=desired.content_type,
                    expires_on=desired.expires.resolve(now) if desired.expires else None,
                    not_before=desired.not_before.resolve(now) if desired.not_before else None,
                )
            case Operation.UPDATE_PROPERTIES:
                desired = step.desired
                assert desired is not None
                if step.keep_fingerprint is not None:
                    fingerprint = step.keep_fingerprint
                else:
                    assert desired.value is not None
                    fingerprint = self.keyring.fingerprint(
                        desired.vault_name, desired.value.reveal()
                    )
                base = step.value_set_at or self.clock()
                self._call(
                    Budget.WRITE,
                    client.update_secret_properties,
                    desired.vault_name,
                    enabled=desired.enabled,
                    tags={**desired.tags, OWNER_TAG: OWNER_VALUE, FINGERPRINT_TAG: fingerprint},
                    content_type=desired.content_type,
                    expires_on=desired.expires.resolve(base) if desired.expires else None,
                    not_before=desired.not_before.resolve(base) if desired.not_before else None,
                )
        return None

    def _recheck_owned(self, step: Step) -> bool:
        """Before a prune: does the secret still exist, and is it still ours?

        From a fresh listing. ``False``: it no longer exists (deleted since
        planning), which is what the prune wanted. Raises :class:`StepFailed`
        when its current version is no longer the sync's.
        """
        current = (self.relisted or {}).get(step.name.lower())
        if current is None:
            return False
        if not current.owned:
            raise StepFailed(
                "not deleted: its current version is no longer the sync's "
                "(set outside the manifests since planning)"
            )
        return True


def _interrupted_result(
    step: Step, action: Action, attempts: int, done: set[Operation]
) -> StepResult:
    if not done:
        return StepResult(step.address, action, False, attempts - 1, INTERRUPTED, interrupted=True)
    sent = ", ".join(o.value for o in step.operations if o in done)
    missing = ", ".join(o.value for o in step.operations if o not in done)
    return StepResult(
        step.address,
        action,
        False,
        attempts,
        f"interrupted after {sent}; {missing} not sent (re-run the sync to converge)",
    )


#: The error of a change the interrupt stopped before any of its requests.
INTERRUPTED = "not applied: interrupted"


def apply_sync(
    sync_plan: SyncPlan,
    client: Any,
    keyring: fp.Keyring,
    *,
    pacer: VaultPacer | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_base_s: float = 1.0,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ApplyResult:
    """Apply exactly the plan's pending changes; never raises for one secret's failure.

    :param client: an ``azure.keyvault.secrets.SecretClient`` acting as an
        identity with Key Vault Secrets Officer on the vault.
    :keyword pacer: paces requests under the vault's limits (``None``: no pacing).
    :keyword concurrency: worker threads.
    :keyword max_attempts: tries per change for transient failures (429, 5xx,
        connection errors), on top of the SDK's own retries.
    :keyword progress: called with (done, total, failed) after each change.
    :raises ValueError: the plan has errors (it must not be applied).
    :raises ApplyInterrupted: on Ctrl-C (``KeyboardInterrupt``) in the calling
        thread: queued changes are cancelled, nothing more is sent, requests in
        flight finish; its ``result`` names what was applied and what was not.
    """
    if sync_plan.plan.errors:
        raise ValueError("a plan with errors cannot be applied")
    pending = sync_plan.plan.pending
    applier = _Applier(
        client, keyring, pacer, max_attempts=max_attempts, retry_base_s=retry_base_s, clock=clock
    )
    started = time.monotonic()
    results: list[StepResult] = []
    failed = 0
    futures: dict[Future[StepResult], Change] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sync")
    try:
        if any(Operation.DELETE in sync_plan.steps[c.address].operations for c in pending):
            # Prunes race with people: re-list (metadata only) right before deleting,
            # and leave alone any secret whose current version is no longer ours.
            applier.relisted = list_secrets(client, pacer=pacer, hook=applier.watch)[0]
        if progress is not None:
            progress(0, len(pending), 0)
        for change in pending:
            step = sync_plan.steps[change.address]
            futures[pool.submit(applier.run, step, change.action)] = change
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            failed += not result.ok
            if progress is not None:
                progress(len(results), len(pending), failed)
    except KeyboardInterrupt:
        # Leaving the pool would run every queued change: cancel them, let the
        # workers send nothing more, wait for the requests already in flight.
        applier.stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        partial = ApplyResult(
            results=_settled(pending, futures, results),
            elapsed_s=time.monotonic() - started,
            throttled=applier.watch.throttled,
            interrupted=True,
        )
        log.warning("interrupted: %d of %d changes applied", len(partial.succeeded), len(pending))
        raise ApplyInterrupted(partial) from None
    finally:
        pool.shutdown(wait=True)
    return ApplyResult(
        results=sorted(results, key=lambda r: r.address),
        elapsed_s=time.monotonic() - started,
        throttled=applier.watch.throttled,
    )


def _settled(
    pending: Iterable[Change],
    futures: Mapping[Future[StepResult], Change],
    collected: Iterable[StepResult],
) -> list[StepResult]:
    """Every pending change's result once the pool has stopped: ran, or not applied."""
    by_address = {r.address: r for r in collected}
    for future, change in futures.items():
        if change.address in by_address or future.cancelled():
            continue
        error = future.exception()
        if error is None:
            by_address[change.address] = future.result()
        else:  # run() returns its failures; this is a bug, but must not hide the report
            by_address[change.address] = StepResult(
                change.address, change.action, False, 0, type(error).__name__
            )
    for change in pending:  # cancelled, or never submitted
        by_address.setdefault(
            change.address,
            StepResult(change.address, change.action, False, 0, INTERRUPTED, interrupted=True),
        )
    return sorted(by_address.values(), key=lambda r: r.address)


def applied_plan(sync_plan: SyncPlan, result: ApplyResult) -> Plan:
    """The part of the plan that was applied (for the "Apply complete!" summary)."""
    ok = {r.address for r in result.succeeded}
    return Plan(tuple(c for c in sync_plan.plan.changes if c.address in ok))


def failure_diagnostics(result: ApplyResult) -> list[Diagnostic]:
    return [
        Diagnostic(
            "error",
            f"{r.action.value} failed: {r.error}",
            detail=f"after {r.attempts} attempt(s); re-run the sync to converge",
            address=r.address,
        )
        for r in result.failed
    ]


def note_diagnostics(result: ApplyResult) -> list[Diagnostic]:
    """Warnings for changes that succeeded another way than planned (see StepResult.note)."""
    return [
        Diagnostic("warning", f"{r.action.value}: {r.note}", address=r.address)
        for r in sorted(result.succeeded, key=lambda r: r.address)
        if r.note
    ]
