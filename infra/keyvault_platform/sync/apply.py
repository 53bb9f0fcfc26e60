"""Apply a sync plan: exactly its pending changes, paced, retried, interruptible.

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

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from keyvault_platform.core.plan import (
    Action,
    Change,
    Diagnostic,
    Plan,
)
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import (
    FINGERPRINT_TAG,
    OWNER_TAG,
    OWNER_VALUE,
    SecretValue,
)
from keyvault_platform.sync.pacing import Budget, VaultPacer
from keyvault_platform.sync.planner import Operation, Step, SyncPlan
from keyvault_platform.sync.vault_state import ActualSecret, list_secrets
from keyvault_platform.target.azure_errors import inner_code

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 4
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: How long follow-ups of a recover keep retrying 404/409 while it completes.
RECOVERY_WAIT_S = 60.0


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
