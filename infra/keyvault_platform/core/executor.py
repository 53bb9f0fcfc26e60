"""One executor for plans: dependency order, bounded concurrency, pacing, retries, Ctrl-C.

Provisioning (resource group, vault, role assignments) and the secrets sync
(one change per secret) apply their plans through :func:`execute`. Each
change becomes a :class:`Task`, keyed by its plan address, naming the
addresses it depends on and doing its work in ``run``; the executor decides
when a task runs and what its :class:`TaskResult` is, and returns one
:class:`ApplyResult` for the whole apply.

**Failure policy** (the same for both products): a task that fails fails
nothing else except its dependents, which are not run and are reported as
skipped, naming the change they waited for; independent tasks carry on. An
apply in which any task failed (or was skipped) has failed: the command
says what failed once per change, ends with "Apply failed: ...", never with
"Apply complete!", and exits 1.

**Running.** A task starts once every task it depends on has succeeded, in
address order among those ready, at most ``concurrency`` at a time (worker
threads). :meth:`TaskContext.before_request` is called by a task before
each request it sends: it runs the caller's pacer hook (the sync's
per-vault :class:`~keyvault_platform.sync.pacing.VaultPacer`), then refuses
to send once the apply is interrupted.

**Retries.** Each Azure request is already retried by azure-core's
``RetryPolicy`` (status codes, ``Retry-After``), set once in the target;
this executor does not repeat that. It retries a *task* only where its
caller asks (:class:`RetryPolicy`, ``max_attempts`` > 1) and classifies a
failure as transient: the sync does, because its pacer must schedule every
attempt and a ``Retry-After`` must hold every worker, which a retry hidden
inside the SDK call cannot do. A task may also raise :class:`NotYet` ("what
I wait for is still completing", such as a recover): retried after its
delay without counting as a failed attempt.

**Interrupting** (Ctrl-C in the calling thread): no task starts any more,
queued ones are cancelled, tasks in flight finish the request they are in
(their next :meth:`~TaskContext.before_request` raises :class:`NotSent`,
and their back-off waits end early), and :class:`ApplyInterrupted` (a
``KeyboardInterrupt``) carries the partial result: what was applied, what
failed, what was not run.

Error texts come from the task (:class:`TaskFailed`) or from the caller's
``describe``, which must never include a secret value; the default names
only the exception's type.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from keyvault_platform.core.plan import Action

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8

#: The error of a task the interrupt stopped before it sent anything.
NOT_RUN = "not applied: interrupted"
#: The error of a task not sent because an earlier failure halted the apply.
NOT_SENT_HALTED = "not sent: the apply stopped at the first failure that every change would meet ("
#: Appended to a failure that would have been retried, had the apply not been interrupted.
NOT_RETRIED = " (not retried: interrupted)"


class Status(enum.Enum):
    """How one task ended. A closed set."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # a task it depends on failed: not run
    NOT_RUN = "not run"  # interrupted before it sent anything


@dataclass(frozen=True)
class Done:
    """What a task's ``run`` returns when it reached its goal.

    ``outcome`` says how, when it was not the action's usual way in a word
    ("exists": an equal role assignment was already there). ``note`` says
    that the goal was reached another way than planned, for a warning (a
    prune whose secret was already deleted).
    """

    outcome: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class TaskResult:
    """How one planned change went. ``error``, ``hint`` and ``note`` never hold a value."""

    address: str
    action: Action
    status: Status
    attempts: int = 0
    outcome: str | None = None
    note: str | None = None
    error: str | None = None
    hint: str | None = None
    #: Skipped: the failed change it (directly or not) depends on.
    blocked_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED

    @property
    def interrupted(self) -> bool:
        return self.status is Status.NOT_RUN


@dataclass(frozen=True)
class ApplyResult:
    """Every task's result (sorted by address), and how the apply went as a whole."""

    results: tuple[TaskResult, ...]
    elapsed_s: float
    interrupted: bool = False  # Ctrl-C: some changes were not run (see not_applied)
    throttled: int = 0  # 429 responses met, where the caller counts them
    #: The failure that stopped the apply (see ``execute``'s ``halts``): the
    #: address it happened at; the changes not sent are in ``not_applied``.
    halted_by: str | None = None

    def _with(self, status: Status) -> list[TaskResult]:
        return [r for r in self.results if r.status is status]

    @property
    def succeeded(self) -> list[TaskResult]:
        return self._with(Status.SUCCEEDED)

    @property
    def failed(self) -> list[TaskResult]:
        return self._with(Status.FAILED)

    @property
    def skipped(self) -> list[TaskResult]:
        return self._with(Status.SKIPPED)

    @property
    def not_applied(self) -> list[TaskResult]:
        """Changes the interrupt stopped before any of their requests was sent."""
        return self._with(Status.NOT_RUN)

    @property
    def ok(self) -> bool:
        """Every change was applied."""
        return all(r.ok for r in self.results)

    def result(self, address: str) -> TaskResult | None:
        for candidate in self.results:
            if candidate.address == address:
                return candidate
        return None


class ApplyInterrupted(KeyboardInterrupt):
    """Ctrl-C during an apply; ``result`` says what was applied and what was not.

    A ``KeyboardInterrupt``, so a caller that does not look for it still
    stops the way Ctrl-C stops (the command line exits 130).
    """

    def __init__(self, result: ApplyResult) -> None:
        super().__init__("apply interrupted")
        self.result = result


class TaskFailed(Exception):
    """Raised by a task for a failure it describes itself (never retried)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotSent(Exception):
    """Raised by :meth:`TaskContext.before_request` once the apply is interrupted."""


class NotYet(Exception):
    """Raised by a task whose goal is still completing: run it again after ``retry_in_s``.

    Not a failed attempt. ``cause`` describes the failure if the apply is
    interrupted meanwhile.
    """

    def __init__(self, cause: BaseException, retry_in_s: float) -> None:
        super().__init__(str(type(cause).__name__))
        self.cause = cause
        self.retry_in_s = retry_in_s


def _never(exc: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Which task failures are tried again, and how often (``max_attempts`` in all).

    The wait before attempt ``n + 1`` is ``base_delay_s * 2 ** (n - 1)``,
    jittered between half and one and a half of that.
    """

    max_attempts: int = 1
    base_delay_s: float = 1.0
    transient: Callable[[BaseException], bool] = _never

    def delay_s(self, attempts: int) -> float:
        return float(self.base_delay_s * 2 ** (attempts - 1) * (0.5 + random.random()))


Describe = Callable[[BaseException], tuple[str, str | None]]


def describe_type(exc: BaseException) -> tuple[str, str | None]:
    """The default description: the exception's type only (its text might hold a value)."""
    return type(exc).__name__, None


class TaskContext:
    """What a running task may ask of the executor."""

    def __init__(self, run: _Run, address: str) -> None:
        self._run = run
        self.address = address
        self.attempt = 0

    @property
    def interrupted(self) -> bool:
        return self._run.stopping.is_set()

    def before_request(self, kind: Any = None) -> None:
        """Call before sending a request: paces it (``kind`` goes to the pacer hook).

        :raises NotSent: the apply was interrupted; send nothing more.
        """
        if self._run.halted.is_set():
            raise NotSent
        if self._run.pace is not None:
            self._run.pace(kind)
        if self._run.stopping.is_set() or self._run.halted.is_set():
            raise NotSent

    def sleep(self, seconds: float) -> None:
        """Wait, but no longer than until the apply is interrupted."""
        self._run.sleep(seconds)


@dataclass(frozen=True)
class Task:
    """One planned change to apply: ``run`` does it, or raises.

    ``depends_on`` names the addresses of tasks that must succeed first.
    """

    address: str
    action: Action
    run: Callable[[TaskContext], Done]
    depends_on: tuple[str, ...] = ()

    def __repr__(self) -> str:
        after = f" after {', '.join(self.depends_on)}" if self.depends_on else ""
        return f"Task({self.action.value} {self.address}{after})"


Progress = Callable[[int, int, int], None]


class _Run:
    """One apply's shared state: the stop flag and the hooks every task uses."""

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        describe: Describe,
        pace: Callable[[Any], None] | None,
        sleep: Callable[[float], None] | None,
        halts: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        self.retry = retry
        self.describe = describe
        self.pace = pace
        self.halts = halts
        self.stopping = threading.Event()
        #: Set by the first failure that ``halts``: nothing more is sent.
        self.halted = threading.Event()
        self.halted_by: str | None = None
        self._halt_lock = threading.Lock()
        self._sleep = sleep

    def halt(self, address: str) -> None:
        with self._halt_lock:
            if self.halted_by is None:
                self.halted_by = address
                self.halted.set()

    @property
    def not_run_error(self) -> str:
        if self.halted_by is not None and not self.stopping.is_set():
            return f"{NOT_SENT_HALTED} {self.halted_by} failed)"
        return NOT_RUN

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self.stopping.wait(seconds)

    def _failed(
        self, task: Task, attempts: int, exc: BaseException, suffix: str = ""
    ) -> TaskResult:
        if isinstance(exc, TaskFailed):
            error, hint = exc.message, exc.hint
        else:
            error, hint = self.describe(exc)
        error += suffix
        log.info("%s failed: %s", task.address, error)
        return TaskResult(
            task.address, task.action, Status.FAILED, attempts, error=error, hint=hint
        )

    def run_task(self, task: Task) -> TaskResult:
        """Run one task to its end: retried as the policy says; never raises."""
        context = TaskContext(self, task.address)
        attempts = 0
        while True:
            attempts += 1
            context.attempt = attempts
            try:
                done = task.run(context)
            except NotSent:
                return TaskResult(
                    task.address,
                    task.action,
                    Status.NOT_RUN,
                    attempts - 1,
                    error=self.not_run_error,
                )
            except NotYet as pending:
                attempts -= 1  # not a failure: what it waits for is still completing
                if not self.stopping.is_set():
                    self.sleep(pending.retry_in_s)
                if self.stopping.is_set():
                    return self._failed(task, attempts, pending.cause, NOT_RETRIED)
                continue
            except TaskFailed as failure:
                return self._failed(task, attempts, failure)
            except Exception as exc:
                if self.halts(exc):
                    self.halt(task.address)
                    return self._failed(task, attempts, exc)
                if attempts < self.retry.max_attempts and self.retry.transient(exc):
                    if not self.stopping.is_set():
                        self.sleep(self.retry.delay_s(attempts))
                    if self.stopping.is_set():
                        return self._failed(task, attempts, exc, NOT_RETRIED)
                    continue
                return self._failed(task, attempts, exc)
            if done.note:
                log.info("%s: %s", task.address, done.note)
            return TaskResult(
                task.address,
                task.action,
                Status.SUCCEEDED,
                attempts,
                outcome=done.outcome,
                note=done.note,
            )


def check_graph(tasks: Sequence[Task]) -> dict[str, Task]:
    """Tasks by address; ValueError for a repeated address, an unknown dependency, a cycle."""
    by_address: dict[str, Task] = {}
    for task in tasks:
        if task.address in by_address:
            raise ValueError(f"two tasks for {task.address}")
        by_address[task.address] = task
    for task in tasks:
        for needed in task.depends_on:
            if needed not in by_address:
                raise ValueError(f"{task.address} depends on {needed}, which is not a task")
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(address: str, path: tuple[str, ...]) -> None:
        if state.get(address) == 2:
            return
        if state.get(address) == 1:
            cycle = " -> ".join((*path[path.index(address) :], address))
            raise ValueError(f"dependency cycle: {cycle}")
        state[address] = 1
        for needed in by_address[address].depends_on:
            visit(needed, (*path, address))
        state[address] = 2

    for address in sorted(by_address):
        visit(address, ())
    return by_address


def execute(
    tasks: Sequence[Task],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetryPolicy = RetryPolicy(),
    describe: Describe = describe_type,
    pace: Callable[[Any], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    progress: Progress | None = None,
    throttled: Callable[[], int] = lambda: 0,
    halts: Callable[[BaseException], bool] = lambda exc: False,
) -> ApplyResult:
    """Run ``tasks`` under the failure policy above; returns every task's result.

    :keyword concurrency: tasks running at once (worker threads), at least 1.
    :keyword retry: which failures are retried, and how often.
    :keyword describe: (error, hint) for a failure that is not a :class:`TaskFailed`.
    :keyword pace: called by :meth:`TaskContext.before_request` with its ``kind``.
    :keyword sleep: how back-off waits (tests); default: wait on the stop flag.
    :keyword progress: called on the calling thread with (done, total, failed)
        at the start and after each task ends (it may raise KeyboardInterrupt).
    :keyword throttled: read at the end, for :attr:`ApplyResult.throttled`.
    :keyword halts: whether a failure stops the whole apply, because every
        other change would fail the same way (no write right, a vault out of
        reach): that change fails once, nothing more is sent, and the
        changes not sent are ``not run`` (:attr:`ApplyResult.halted_by`).
    :raises ValueError: a repeated address, an unknown dependency, a cycle.
    :raises ApplyInterrupted: on Ctrl-C in the calling thread, with the partial result.
    """
    by_address = check_graph(tasks)
    run = _Run(retry=retry, describe=describe, pace=pace, sleep=sleep, halts=halts)
    dependents: dict[str, list[str]] = {address: [] for address in by_address}
    waiting: dict[str, set[str]] = {}
    for task in tasks:
        waiting[task.address] = set(task.depends_on)
        for needed in task.depends_on:
            dependents[needed].append(task.address)
    results: dict[str, TaskResult] = {}
    running: dict[Future[TaskResult], str] = {}
    failures = 0
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="apply")

    def submit(addresses: Iterable[str]) -> None:
        for address in sorted(addresses):
            running[pool.submit(run.run_task, by_address[address])] = address

    def skip_dependents_of(failed: TaskResult) -> None:
        pending = list(dependents[failed.address])
        while pending:
            address = pending.pop()
            if address in results:
                continue
            task = by_address[address]
            results[address] = TaskResult(
                address,
                task.action,
                Status.SKIPPED,
                error=f"not applied: {failed.address} failed",
                blocked_by=failed.address,
            )
            pending.extend(dependents[address])

    def finished() -> ApplyResult:
        return ApplyResult(
            tuple(sorted(results.values(), key=lambda r: r.address)),
            time.monotonic() - started,
            interrupted=run.stopping.is_set(),
            throttled=throttled(),
            halted_by=run.halted_by,
        )

    try:
        if progress is not None:
            progress(0, len(by_address), 0)
        submit(a for a, needs in waiting.items() if not needs)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f]):
                address = running[future]
                result = _result_of(future, by_address[address])
                results[address] = result
                del running[future]
                if result.ok:
                    ready = []
                    for dependent in dependents[address]:
                        waiting[dependent].discard(address)
                        if not waiting[dependent] and dependent not in results:
                            ready.append(dependent)
                    submit(ready)
                else:
                    failures += 1
                    skip_dependents_of(result)
            if progress is not None:
                progress(len(results), len(by_address), failures)
    except KeyboardInterrupt:
        # Leaving the pool would run every queued task: cancel them, let the
        # workers send nothing more, wait for the requests already in flight.
        run.stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, address in running.items():
            if not future.cancelled() and address not in results:
                results[address] = _result_of(future, by_address[address])
        for address, task in by_address.items():
            results.setdefault(
                address, TaskResult(address, task.action, Status.NOT_RUN, error=NOT_RUN)
            )
        partial = finished()
        log.info("interrupted: %d of %d changes applied", len(partial.succeeded), len(by_address))
        raise ApplyInterrupted(partial) from None
    finally:
        pool.shutdown(wait=True)
    return finished()


def _result_of(future: Future[TaskResult], task: Task) -> TaskResult:
    error = future.exception()
    if error is None:
        return future.result()
    # run_task returns its failures; this is a bug, but must not hide the report.
    return TaskResult(task.address, task.action, Status.FAILED, error=type(error).__name__)
