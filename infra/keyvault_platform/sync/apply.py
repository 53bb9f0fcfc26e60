"""Apply a sync plan: exactly its pending changes, paced, retried, interruptible.

**Applying** (:func:`apply_sync`): each pending change is one task of the
shared executor (:mod:`keyvault_platform.core.executor`, whose failure
policy applies: one failing secret does not stop the others, and the result
names what failed). The secrets are independent, so they run concurrently
up to ``concurrency``; each request is paced under Key Vault's limits
(:mod:`keyvault_platform.sync.pacing`) through the executor's pacer hook,
and a 429's ``Retry-After`` holds every worker. Transient failures (429,
5xx, dropped connections) are retried by the executor only: each request is
sent with azure-core's retries off (``retry_total=0``), so that every
attempt is paced and a persistent failure costs ``max_attempts`` requests,
not ``max_attempts`` times the SDK's. A failure every other change would
meet too (:attr:`~keyvault_platform.target.failures.Kind.stops_every_change`:
the identity may not write, the vault's network rules refuse this machine,
its host does not resolve) stops the apply at once: it is reported once,
with the hint from :mod:`keyvault_platform.target.failures`, and nothing
more is sent. What can race is re-checked:
right before its request goes out (after its pacing wait), a metadata
update or a prune lists the secret's versions (metadata only) and compares
the latest with the version it was planned against. An update of a secret
changed since fails ("changed since the plan"), and otherwise is sent to
that exact version, so a version set by hand is never tagged as the
sync's; a prune of a secret changed since is left alone (a warning; not
counted as destroyed), and one already deleted counts as done (with a
warning). A value write (``set_secret``) is not re-checked: it makes a new
version with the manifest's value, which is what its plan said. A create that meets a
soft-deleted name fails with a clear message; follow-ups of a recover wait
for it (retried without counting as failures while it completes).

**Interrupting** (Ctrl-C): queued changes are cancelled, requests not yet
sent are not sent, the ones in flight finish, and :class:`ApplyInterrupted`
(a ``KeyboardInterrupt``) carries the partial result: what was applied and
what was not.

No value appears in a plan, a log line, an exception or a repr: values live
in :class:`~keyvault_platform.sync.manifests.SecretValue` until the ``set_secret`` call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy as AzureRetryPolicy

from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.executor import (
    ApplyInterrupted,
    ApplyResult,
    Done,
    NotSent,
    NotYet,
    RetryPolicy,
    Task,
    TaskContext,
    TaskFailed,
    TaskResult,
    execute,
)
from keyvault_platform.core.plan import Action
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import (
    FINGERPRINT_TAG,
    OWNER_TAG,
    OWNER_VALUE,
    SecretValue,
)
from keyvault_platform.sync.pacing import Budget, VaultPacer
from keyvault_platform.sync.planner import Operation, Step, SyncPlan
from keyvault_platform.sync.vault_state import ActualSecret, newest_versions
from keyvault_platform.target.failures import Plane, classify, hint, inner_code

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 4
#: azure-core's per-call options for every request of the apply: the
#: executor is the one retry owner on this path (see the module docstring).
NO_SDK_RETRIES: dict[str, Any] = {"retry_total": 0}
#: How long follow-ups of a recover keep retrying 404/409 while it completes.
RECOVERY_WAIT_S = 60.0

__all__ = [
    "ALREADY_DELETED",
    "CHANGED_SINCE_PLAN",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "NOT_PRUNED",
    "ApplyInterrupted",
    "ApplyResult",
    "TaskResult",
    "VaultGone",
    "apply_sync",
    "describe_error",
]


#: A prune whose secret someone else deleted: the desired state, reached.
ALREADY_DELETED = "already deleted since the plan was made; counted as destroyed"

#: An update refused because the secret's latest version is no longer the planned one.
CHANGED_SINCE_PLAN = "changed since the plan: re-run to plan against the current value"

#: The outcome of a prune left alone (the secret changed since the plan): not deleted.
NOT_PRUNED = "not deleted"
NOT_PRUNED_FOREIGN = (
    "not deleted: its latest version is no longer the sync's (set outside the manifests "
    "since the plan); left alone, counted as not pruned"
)
NOT_PRUNED_CHANGED = (
    "not deleted: changed since the plan; left alone, counted as not pruned "
    "(re-run to plan against the current value)"
)


_RETRY_AFTER = AzureRetryPolicy()


#: Changes in a row whose requests all failed to connect, with no answer from
#: the vault in between, after which the vault counts as gone (a deleted vault
#: drops every connection; a flaky network answers some requests meanwhile).
VAULT_GONE_AFTER = 3


class VaultGone(ActionableError):
    """The vault stopped answering during the apply: most likely it was deleted.

    ``result`` says what was applied before (the changes not sent fail with
    :data:`NOT_SENT_VAULT_GONE`).
    """

    def __init__(self, vault_url: str, result: ApplyResult) -> None:
        total = len(result.results)
        super().__init__(
            f"the vault {vault_url} stopped answering during the sync: every request failed "
            "to connect, as they do once a vault is deleted; the sync stopped "
            f"({len(result.succeeded)} of {total} change{'s' if total != 1 else ''} applied)",
            hint="if the vault was deleted, recover it with provisioning "
            "(keyvault-platform provision --env <env> recovers a soft-deleted vault), "
            "then re-run the sync; otherwise check the network path to the vault",
        )
        self.result = result


#: The error of a change not sent because the vault is gone.
NOT_SENT_VAULT_GONE = "not sent: the vault stopped answering (deleted?)"


class _ResponseWatch:
    """Counts 429s and holds the pacer for their ``Retry-After``; a raw_response_hook.

    Also tells a vault that is gone: :meth:`connection_failed` counts changes
    that failed to connect, any answer from the vault resets the count.
    """

    def __init__(self, pacer: VaultPacer | None) -> None:
        self.pacer = pacer
        self.throttled = 0
        self._unanswered = 0
        self.vault_gone = threading.Event()
        self._lock = threading.Lock()

    def connection_failed(self) -> None:
        with self._lock:
            self._unanswered += 1
            if self._unanswered >= VAULT_GONE_AFTER:
                self.vault_gone.set()

    def __call__(self, response: Any) -> None:
        http = response.http_response
        with self._lock:
            self._unanswered = 0
            if http.status_code != 429:
                return
            self.throttled += 1
        if self.pacer is not None:
            # azure-core's own reading of Retry-After (and its -ms variants).
            self.pacer.hold(_RETRY_AFTER.get_retry_after(response) or 1.0)


def describe_error(exc: BaseException) -> str:
    """A one-line description of an SDK error, without values or tokens."""
    if isinstance(exc, HttpResponseError):
        return classify(exc).describe()
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        failure = classify(exc)
        if failure.kind.stops_every_change:  # a host that does not resolve
            return failure.describe()
        return f"connection failed: {type(exc).__name__}"
    return type(exc).__name__


def _transient(exc: BaseException) -> bool:
    return classify(exc).kind.transient


def _halts(exc: BaseException) -> bool:
    return classify(exc).kind.stops_every_change


class _NoVersion(Exception):
    """The secret to update has no version: not recovered yet, or deleted since the plan."""


def _recovering(exc: BaseException) -> bool:
    """A follow-up met a recover still in progress (Azure completes it asynchronously)."""
    if isinstance(exc, ResourceNotFoundError | _NoVersion):
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


def _hint(exc: BaseException, facts: Mapping[str, str]) -> str | None:
    """The hint of a failure that stops the apply (others are retried or speak for themselves)."""
    failure = classify(exc)
    if not failure.kind.stops_every_change:
        return None
    return hint(Plane.VAULT, failure, **facts)


ProgressCallback = Callable[[int, int, int], None]


class _Applier:
    """What every secret's task shares: the client, the keyring, the response watch."""

    def __init__(
        self,
        client: Any,
        keyring: fp.Keyring,
        watch: _ResponseWatch,
        *,
        retry_base_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.keyring = keyring
        self.watch = watch
        self.retry_base_s = retry_base_s
        self.clock = clock

    def task(self, step: Step, action: Action) -> Task:
        return Task(step.address, action, _SecretChange(self, step))

    def call(
        self,
        ctx: TaskContext,
        budget: Budget,
        function: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """One SDK call: paced, not sent once interrupted, its 429s watched."""
        ctx.before_request(budget)
        return function(*args, raw_response_hook=self.watch, **NO_SDK_RETRIES, **kwargs)

    def operation(
        self, ctx: TaskContext, step: Step, operation: Operation, value: SecretValue | None
    ) -> str | None:
        """Make one SDK call; returns a note when the outcome was reached another way."""
        client = self.client
        match operation:
            case Operation.RECOVER:
                # No .wait(): the poller would read the value back (get_secret) to
                # see the recover finish. Follow-ups retry 404/409 instead.
                self.call(ctx, Budget.WRITE, client.begin_recover_deleted_secret, step.name)
            case Operation.DELETE:
                # The pacing wait comes first, so the re-check is the last read
                # before the delete (it has no version to pin).
                ctx.before_request(Budget.WRITE)
                newest = self._newest(ctx, step)
                if not newest:
                    return ALREADY_DELETED
                if not _unchanged(newest, step):
                    return _kept(newest)
                try:
                    client.begin_delete_secret(
                        step.name, raw_response_hook=self.watch, **NO_SDK_RETRIES
                    )
                except ResourceNotFoundError:
                    # Deleted since the re-check (or by an attempt whose answer was lost).
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
                self.call(
                    ctx,
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
                # Paced first, then re-checked, then sent to the exact version
                # planned: a version set since is never tagged as the sync's.
                ctx.before_request(Budget.WRITE)
                newest = self._newest(ctx, step)
                if not newest:
                    raise _NoVersion  # a recover still completing, or deleted since the plan
                if not _unchanged(newest, step):
                    raise TaskFailed(CHANGED_SINCE_PLAN)
                client.update_secret_properties(
                    desired.vault_name,
                    newest[0].version,
                    enabled=desired.enabled,
                    tags={**desired.tags, OWNER_TAG: OWNER_VALUE, FINGERPRINT_TAG: fingerprint},
                    content_type=desired.content_type,
                    expires_on=desired.expires.resolve(base) if desired.expires else None,
                    not_before=desired.not_before.resolve(base) if desired.not_before else None,
                    raw_response_hook=self.watch,
                    **NO_SDK_RETRIES,
                )
        return None

    def _newest(self, ctx: TaskContext, step: Step) -> tuple[ActualSecret, ...]:
        """The secret's latest version(s), listed now (paced; no value read)."""
        return newest_versions(
            self.client,
            step.name,
            before_page=lambda: ctx.before_request(Budget.OTHER),
            hook=self.watch,
            request_options=NO_SDK_RETRIES,
        )


def _unchanged(newest: tuple[ActualSecret, ...], step: Step) -> bool:
    """Whether the latest version is still the one the change was planned against.

    Several newest versions (created within the same second) cannot be told
    apart: that counts as changed.
    """
    planned = step.planned_version
    return planned is not None and len(newest) == 1 and planned.is_same_version(newest[0])


def _kept(newest: tuple[ActualSecret, ...]) -> str:
    """The note of a prune left alone: its secret changed since the plan."""
    if any(not version.owned for version in newest):
        return NOT_PRUNED_FOREIGN
    return NOT_PRUNED_CHANGED


class _SecretChange:
    """One secret's change as an executor task: its SDK calls in order, each made once.

    Called once per attempt; what an earlier attempt completed is not sent
    again, and a generated value is generated once and reused by every retry.
    """

    def __init__(self, applier: _Applier, step: Step) -> None:
        self.applier = applier
        self.step = step
        self.done: set[Operation] = set()
        self.recovered_at: float | None = None
        self.note: str | None = None
        self._value: SecretValue | None = None

    def _secret_value(self) -> SecretValue | None:
        desired = self.step.desired
        if desired is None or Operation.SET not in self.step.operations:
            return None
        if self._value is None:
            generator = desired.generator
            self._value = generator.generate() if generator is not None else desired.value
        return self._value

    def __call__(self, ctx: TaskContext) -> Done:
        step = self.step
        value = self._secret_value()
        watch = self.applier.watch
        for operation in step.operations:
            if operation in self.done:
                continue
            if watch.vault_gone.is_set():
                raise TaskFailed(NOT_SENT_VAULT_GONE)
            try:
                self.note = self.applier.operation(ctx, step, operation, value) or self.note
            except NotSent:
                if not self.done:
                    raise
                sent = ", ".join(o.value for o in step.operations if o in self.done)
                missing = ", ".join(o.value for o in step.operations if o not in self.done)
                raise TaskFailed(
                    f"interrupted after {sent}; {missing} not sent (re-run the sync to converge)"
                ) from None
            except TaskFailed:
                raise
            except Exception as exc:
                if isinstance(exc, ServiceRequestError | ServiceResponseError):
                    watch.connection_failed()
                    if watch.vault_gone.is_set():
                        raise TaskFailed(
                            describe_error(exc) + " (the vault stopped answering)"
                        ) from None
                if (
                    self.recovered_at is not None
                    and _recovering(exc)
                    and time.monotonic() - self.recovered_at < RECOVERY_WAIT_S
                ):
                    raise NotYet(exc, min(2.0, self.applier.retry_base_s * 4)) from None
                if isinstance(exc, _NoVersion):
                    raise TaskFailed(
                        "not updated: the secret no longer exists (deleted since the plan); "
                        "re-run to plan against the current vault"
                    ) from None
                if Operation.SET in step.operations and _is_deleted_conflict(exc):
                    raise TaskFailed(
                        describe_error(exc)
                        + " (the name was soft-deleted after planning; re-run to plan a recover)"
                    ) from None
                raise
            self.done.add(operation)
            if operation is Operation.RECOVER:
                self.recovered_at = time.monotonic()
        kept = self.note in (NOT_PRUNED_FOREIGN, NOT_PRUNED_CHANGED)
        return Done(outcome=NOT_PRUNED if kept else None, note=self.note)


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
    hint_facts: Mapping[str, str] | None = None,
) -> ApplyResult:
    """Apply exactly the plan's pending changes; never raises for one secret's failure.

    :param client: an ``azure.keyvault.secrets.SecretClient`` acting as an
        identity with Key Vault Secrets Officer on the vault.
    :keyword pacer: paces requests under the vault's limits (``None``: no pacing).
    :keyword concurrency: worker threads.
    :keyword max_attempts: tries per change for transient failures (429, 5xx,
        connection errors); the SDK does not retry them too, so a persistent
        failure costs this many requests.
    :keyword progress: called with (done, total, failed) after each change.
    :keyword hint_facts: what a failure's hint may name (``identity``,
        ``role``, ``grant``, ``env``, ``vault``; see
        :func:`keyvault_platform.target.failures.hint`).
    :raises ValueError: the plan has errors (it must not be applied).
    :raises VaultGone: the vault stopped answering (every request failed to
        connect, as once it is deleted): the changes not yet sent are not sent.
    :raises ApplyInterrupted: on Ctrl-C (``KeyboardInterrupt``) in the calling
        thread: queued changes are cancelled, nothing more is sent, requests in
        flight finish; its ``result`` names what was applied and what was not.
    """
    if sync_plan.plan.errors:
        raise ValueError("a plan with errors cannot be applied")
    watch = _ResponseWatch(pacer)
    applier = _Applier(client, keyring, watch, retry_base_s=retry_base_s, clock=clock)
    tasks = [
        applier.task(sync_plan.steps[change.address], change.action)
        for change in sync_plan.plan.pending
    ]
    result = execute(
        tasks,
        concurrency=concurrency,
        retry=RetryPolicy(
            max_attempts=max(1, max_attempts), base_delay_s=retry_base_s, transient=_transient
        ),
        describe=lambda exc: (describe_error(exc), _hint(exc, hint_facts or {})),
        pace=None if pacer is None else pacer.acquire,
        progress=progress,
        throttled=lambda: watch.throttled,
        halts=_halts,
    )
    if watch.vault_gone.is_set():
        raise VaultGone(str(getattr(client, "vault_url", "(unknown)")), result)
    return result
