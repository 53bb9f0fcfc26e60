"""The executor alone (pure logic, no network): order, bound, failure policy, retries, Ctrl-C.

Tasks are plain functions; they coordinate with events and barriers, never
by sleeping on the wall clock (back-off waits are injected).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from keyvault_platform.core.executor import (
    NOT_RETRIED,
    NOT_RUN,
    ApplyInterrupted,
    Done,
    NotYet,
    RetryPolicy,
    Status,
    Task,
    TaskContext,
    TaskFailed,
    check_graph,
    execute,
)
from keyvault_platform.core.plan import Action

Run = Callable[[TaskContext], Done]


def ok(ctx: TaskContext) -> Done:
    return Done()


def task(address: str, run: Run = ok, *needs: str) -> Task:
    return Task(f"thing.{address}", Action.CREATE, run, tuple(f"thing.{n}" for n in needs))


def no_sleep(seconds: float) -> None:
    pass


class Journal:
    """Records when tasks start and end, thread-safely."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def run(self, name: str) -> Run:
        def run(ctx: TaskContext) -> Done:
            with self._lock:
                self.events.append(f"start {name}")
            with self._lock:
                self.events.append(f"end {name}")
            return Done()

        return run

    def index(self, event: str) -> int:
        return self.events.index(event)


def test_dependencies_run_first_and_results_are_sorted_by_address() -> None:
    journal = Journal()
    tasks = [
        task("c", journal.run("c"), "b"),
        task("b", journal.run("b"), "a"),
        task("a", journal.run("a")),
        task("d", journal.run("d")),
    ]
    result = execute(tasks, concurrency=4)
    assert result.ok and not result.interrupted
    assert [r.address for r in result.results] == ["thing.a", "thing.b", "thing.c", "thing.d"]
    assert journal.index("end a") < journal.index("start b")
    assert journal.index("end b") < journal.index("start c")


def test_a_task_with_several_dependencies_waits_for_all_of_them() -> None:
    journal = Journal()
    tasks = [
        task("x", journal.run("x")),
        task("y", journal.run("y")),
        task("z", journal.run("z"), "x", "y"),
    ]
    assert execute(tasks, concurrency=3).ok
    assert journal.index("start z") > max(journal.index("end x"), journal.index("end y"))


def test_independent_tasks_run_concurrently_up_to_the_bound() -> None:
    bound = 3
    # Each group of `bound` tasks meets at the barrier: impossible unless that
    # many run at once (a smaller bound would break it on its timeout).
    meet = threading.Barrier(bound, timeout=10)
    lock = threading.Lock()
    active = 0
    most = 0

    def run(ctx: TaskContext) -> Done:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        meet.wait()
        with lock:
            active -= 1
        return Done()

    result = execute([task(f"t{i}", run) for i in range(3 * bound)], concurrency=bound)
    assert result.ok
    assert most == bound


def test_concurrency_one_runs_one_at_a_time() -> None:
    lock = threading.Lock()
    active = 0
    most = 0

    def run(ctx: TaskContext) -> Done:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        with lock:
            active -= 1
        return Done()

    assert execute([task(f"t{i}", run) for i in range(8)], concurrency=1).ok
    assert most == 1


def test_a_failure_skips_only_its_dependents_and_independent_tasks_carry_on() -> None:
    def broken(ctx: TaskContext) -> Done:
        raise TaskFailed("could not create it", hint="ask for the right")

    ran: list[str] = []

    def record(name: str) -> Run:
        def run(ctx: TaskContext) -> Done:
            ran.append(name)
            return Done()

        return run

    tasks = [
        task("vault", broken),
        task("grant1", record("grant1"), "vault"),
        task("grant2", record("grant2"), "grant1"),  # skipped too: transitively
        task("other", record("other")),
    ]
    result = execute(tasks, concurrency=2)
    assert not result.ok
    (failed,) = result.failed
    assert failed.address == "thing.vault" and failed.status is Status.FAILED
    assert failed.error == "could not create it" and failed.hint == "ask for the right"
    assert [r.address for r in result.skipped] == ["thing.grant1", "thing.grant2"]
    assert all(r.blocked_by == "thing.vault" for r in result.skipped)
    assert all(r.error == "not applied: thing.vault failed" for r in result.skipped)
    assert [r.address for r in result.succeeded] == ["thing.other"]
    assert ran == ["other"]


def test_failures_are_described_by_the_caller_never_by_the_exception_text() -> None:
    def leaky(ctx: TaskContext) -> Done:
        raise RuntimeError("value=hunter2")

    default = execute([task("a", leaky)])
    assert default.failed[0].error == "RuntimeError"
    described = execute([task("a", leaky)], describe=lambda exc: ("HTTP 500", "try later"))
    assert (described.failed[0].error, described.failed[0].hint) == ("HTTP 500", "try later")


def test_transient_failures_are_retried_up_to_max_attempts() -> None:
    calls = 0

    def flaky(ctx: TaskContext) -> Done:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError
        return Done(outcome="created")

    policy = RetryPolicy(max_attempts=3, transient=lambda e: isinstance(e, ConnectionError))
    (result,) = execute([task("a", flaky)], retry=policy, sleep=no_sleep).results
    assert result.ok and result.attempts == 3 and result.outcome == "created"

    calls = -10  # fails more often than the policy allows
    (result,) = execute([task("a", flaky)], retry=policy, sleep=no_sleep).results
    assert result.status is Status.FAILED and result.attempts == 3


def test_permanent_failures_and_task_failures_are_not_retried() -> None:
    calls = 0

    def denied(ctx: TaskContext) -> Done:
        nonlocal calls
        calls += 1
        raise PermissionError

    policy = RetryPolicy(max_attempts=5, transient=lambda e: isinstance(e, ConnectionError))
    (result,) = execute([task("a", denied)], retry=policy, sleep=no_sleep).results
    assert result.status is Status.FAILED and calls == 1 and result.attempts == 1


def test_not_yet_is_waited_for_without_counting_an_attempt() -> None:
    calls = 0
    waits: list[float] = []

    def completing(ctx: TaskContext) -> Done:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise NotYet(LookupError(), retry_in_s=0.5)
        return Done(note="reached another way")

    (result,) = execute([task("a", completing)], sleep=waits.append).results
    assert result.ok and result.attempts == 1 and result.note == "reached another way"
    assert waits == [0.5, 0.5, 0.5]


def test_the_pacer_hook_sees_every_request_with_its_kind() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def pace(kind: str) -> None:
        with lock:
            seen.append(kind)

    def two_requests(ctx: TaskContext) -> Done:
        ctx.before_request("write")
        ctx.before_request("other")
        return Done()

    assert execute([task("a", two_requests), task("b", two_requests)], pace=pace).ok
    assert sorted(seen) == ["other", "other", "write", "write"]


def test_progress_is_reported_on_the_calling_thread() -> None:
    calls: list[tuple[int, int, int]] = []
    threads: set[threading.Thread] = set()

    def progress(done: int, total: int, failed: int) -> None:
        threads.add(threading.current_thread())
        calls.append((done, total, failed))

    def broken(ctx: TaskContext) -> Done:
        raise TaskFailed("no")

    execute([task("a"), task("b", broken), task("c", ok, "b")], concurrency=1, progress=progress)
    assert threads == {threading.current_thread()}
    assert calls[0] == (0, 3, 0) and calls[-1] == (3, 3, 1)


def test_ctrl_c_cancels_queued_tasks_lets_in_flight_ones_finish_and_carries_the_result() -> None:
    sent: list[str] = []

    def in_flight(ctx: TaskContext) -> Done:
        ctx.before_request()  # sent before the interrupt ...
        ctx.sleep(30)  # ... its answer arrives after it (the wait ends at Ctrl-C)
        sent.append("in-flight")
        return Done()

    def later(ctx: TaskContext) -> Done:
        ctx.sleep(30)  # started before the interrupt: waits, then may not send
        ctx.before_request()
        sent.append("later")
        return Done()

    def progress(done: int, total: int, failed: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    tasks = [
        task("a"),
        task("b", in_flight),
        task("c", later),
        task("d", later),
        task("e", ok, "a"),  # its dependency succeeded, but it was not started
    ]
    with pytest.raises(ApplyInterrupted) as caught:
        execute(tasks, concurrency=2, progress=progress)
    result = caught.value.result
    assert isinstance(caught.value, KeyboardInterrupt)
    assert result.interrupted and not result.failed
    assert [r.address for r in result.succeeded] == ["thing.a", "thing.b"]
    assert [r.address for r in result.not_applied] == ["thing.c", "thing.d", "thing.e"]
    assert all(r.error == NOT_RUN and r.attempts == 0 for r in result.not_applied)
    assert sent == ["in-flight"]


def test_a_retry_the_interrupt_stops_is_a_failure_that_says_so() -> None:
    def progress(done: int, total: int, failed: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    started = threading.Event()

    def flaky(ctx: TaskContext) -> Done:
        started.set()
        raise ConnectionError

    def first(ctx: TaskContext) -> Done:
        started.wait(10)
        return Done()

    policy = RetryPolicy(
        max_attempts=5, base_delay_s=30, transient=lambda e: isinstance(e, ConnectionError)
    )
    with pytest.raises(ApplyInterrupted) as caught:
        execute(
            [task("a", first), task("b", flaky)], concurrency=2, retry=policy, progress=progress
        )
    (failed,) = caught.value.result.failed
    assert failed.address == "thing.b" and failed.error == "ConnectionError" + NOT_RETRIED


def test_bad_graphs_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match=re.escape("two tasks for thing.a")):
        check_graph([task("a"), task("a")])
    with pytest.raises(ValueError, match=re.escape("depends on thing.z, which is not a task")):
        execute([task("a", ok, "z")])
    with pytest.raises(
        ValueError, match=re.escape("dependency cycle: thing.a -> thing.b -> thing.a")
    ):
        execute([task("a", ok, "b"), task("b", ok, "a")])


def test_no_tasks_is_an_empty_success() -> None:
    result = execute([])
    assert result.ok and result.results == ()


class _Denied(Exception):
    """A failure every task would meet (as a 403 by RBAC is)."""


def test_a_halting_failure_stops_the_apply_once_and_nothing_more_is_sent() -> None:
    sent: list[str] = []
    lock = threading.Lock()

    def denied(ctx: TaskContext) -> Done:
        ctx.before_request()
        with lock:
            sent.append(ctx.address)
        raise _Denied

    tasks = [task(f"t{i:02d}", denied) for i in range(20)]
    result = execute(
        tasks,
        concurrency=1,
        retry=RetryPolicy(max_attempts=4, transient=lambda exc: True),
        halts=lambda exc: isinstance(exc, _Denied),
    )
    assert sent == ["thing.t00"]  # not retried, and nothing sent after it
    assert result.halted_by == "thing.t00" and not result.interrupted
    assert [r.address for r in result.failed] == ["thing.t00"]
    assert result.failed[0].attempts == 1
    assert len(result.not_applied) == 19
    assert all("stopped at the first failure" in (r.error or "") for r in result.not_applied)
    assert all("thing.t00 failed" in (r.error or "") for r in result.not_applied)


def test_a_failure_that_does_not_halt_leaves_the_others_running() -> None:
    def denied(ctx: TaskContext) -> Done:
        raise _Denied

    result = execute([task("a", denied), task("b"), task("c")], halts=lambda exc: False)
    assert result.halted_by is None
    assert [r.address for r in result.succeeded] == ["thing.b", "thing.c"]
