"""Ctrl-C during an apply: queued changes are cancelled and the output says what was written.

Before, leaving the ``with ThreadPoolExecutor`` block waited for every queued
change, so nearly all writes happened after Ctrl-C and the command exited
130 without a word about them. The interrupt is delivered the way a real
Ctrl-C is, to the main thread (``_thread.interrupt_main``), from a pacer
that counts the writes it lets through; the emulator adds latency to each
write so that requests are in flight when it lands. Writes are counted in
the emulator's audit log, never timed.
"""

from __future__ import annotations

import _thread
import io
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import prepare, run_sync
from keyvault_platform.sync.apply import ApplyInterrupted, apply_sync
from keyvault_platform.sync.pacing import Budget, VaultPacer
from keyvault_platform.sync.planner import plan_sync
from keyvault_platform.sync.vault_state import read_vault_state

from .test_sync_emulator import Sync

CHANGES = 40
CONCURRENCY = 2
INTERRUPT_AT = 4  # the write whose pacing delivers Ctrl-C
#: Writes that may still land after Ctrl-C: the ones in flight, those a worker
#: sends before the main thread takes the interrupt, and those that complete
#: before the main thread gets to them.
SLACK = 4 * CONCURRENCY


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Iterator[Sync]:
    emulator.set_throttling(vault.name, enabled=False)
    synced = Sync(emulator, vault, tmp_path)
    synced.write(
        "scope: acme\nsecrets:\n"
        + "".join(f"  - name: s{i:02d}\n    value: {{env: DB_PASSWORD}}\n" for i in range(CHANGES))
    )
    emulator.set_faults(vault.name, latency_ms=50, operations={"SecretSet"})
    try:
        yield synced
    finally:
        emulator.clear_faults(vault.name)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """Python's own SIGINT handler (a test runner may have put another in place)."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class CtrlCAt(VaultPacer):
    """The real pacer (limits out of reach), which presses Ctrl-C at the nth write."""

    def __init__(self, nth: int) -> None:
        limits = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
        super().__init__(limits.writes, limits.others)
        self.nth = nth
        self.paced = 0
        self._lock = threading.Lock()

    def acquire(self, budget: Budget) -> None:
        if budget is Budget.WRITE:
            with self._lock:
                self.paced += 1
                if self.paced == self.nth:
                    _thread.interrupt_main()
        super().acquire(budget)


def _sets(sync: Sync, since: float) -> int:
    return sum(1 for r in sync.audit(since) if r.operation == "SecretSet" and r.status == 200)


@pytest.mark.parametrize("output", ["text", "json"])
def test_ctrl_c_cancels_queued_changes_and_reports_what_was_applied(
    sync: Sync, sigint_raises: None, output: str
) -> None:
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir)
    stdout, stderr = io.StringIO(), io.StringIO()
    out = cli.Output(out=stdout, err=stderr, format=output)
    start = time.time()
    with pytest.raises(KeyboardInterrupt) as caught:
        run_sync(
            request,
            sync.client,
            out,
            plan_only=False,
            pacer=CtrlCAt(INTERRUPT_AT),
            concurrency=CONCURRENCY,
            retry_base_s=0.05,
        )
    written = _sets(sync, start)
    # Far fewer writes than changes, and exactly the ones reported as applied.
    assert 1 <= written <= INTERRUPT_AT + SLACK < CHANGES
    assert isinstance(caught.value, ApplyInterrupted)
    result = caught.value.result
    assert result.interrupted and not result.failed
    assert len(result.succeeded) == written
    assert len(result.not_applied) == CHANGES - written
    applied = {r.address for r in result.succeeded}
    landed = {p.name for p in sync.client.list_properties_of_secrets()}
    assert {a.removeprefix("secret.") for a in applied} == landed

    text = stdout.getvalue()
    assert "CANARY" not in text and "Apply complete" not in text
    if output == "text":
        head = text.index("Applied before the interrupt:")
        tail = text.index("Not applied (interrupted):")
        assert {
            line.removeprefix("  + ") for line in text[head:tail].splitlines()[1:] if line
        } == applied
        assert len([line for line in text[tail:].splitlines() if line.startswith("  + ")]) == (
            CHANGES - written
        )
        assert text.rstrip().endswith(
            f"Apply interrupted: {written} of {CHANGES} changes applied; "
            "re-run the sync to converge."
        )
    else:
        lines = [json.loads(line) for line in text.splitlines()]
        completed = {
            line["hook"]["resource"]["addr"] for line in lines if line["type"] == "apply_complete"
        }
        assert completed == applied
        assert lines[-1]["type"] == "diagnostic" and lines[-1]["@level"] == "error"
        assert lines[-1]["@message"].startswith(f"Apply interrupted: {written} of {CHANGES}")
        assert lines[-1]["diagnostic"]["detail"].count("not applied: ") == CHANGES - written
        assert "change_summary" not in [line["type"] for line in lines[-3:]]

    # A re-run applies the rest, and only the rest.
    start = time.time()
    code, plan, after = sync.run()
    assert code == 0 and after is not None and not after.failed
    assert len(plan.plan.pending) == CHANGES - written == _sets(sync, start)


def test_the_command_exits_130_after_the_report(sync: Sync, sigint_raises: None) -> None:
    """Through the CLI conventions: the report on stdout, then "interrupted", exit 130."""
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir)

    def main(args, out):
        run_sync(
            request,
            sync.client,
            out,
            plan_only=False,
            pacer=CtrlCAt(INTERRUPT_AT),
            concurrency=CONCURRENCY,
        )
        return 0

    stdout, stderr = io.StringIO(), io.StringIO()
    parser = cli.parser("sync", "test")
    assert cli.run(parser, main, [], stdout=stdout, stderr=stderr) == cli.EXIT_INTERRUPTED
    assert "Apply interrupted: " in stdout.getvalue()
    assert "error: interrupted" in stderr.getvalue()


def test_ctrl_c_from_the_main_thread_between_completions(sync: Sync) -> None:
    """The same through apply_sync's progress callback, which runs on the main thread."""
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir)
    planned = plan_sync(request.manifests, read_vault_state(sync.client), request.keyring)

    interrupted = []

    def progress(done: int, total: int, failed: int) -> None:
        # ">=": completions are reported a batch at a time, so the count seen
        # on the main thread can step over 3.
        if done >= 3 and not interrupted:
            interrupted.append(done)
            raise KeyboardInterrupt

    start = time.time()
    with pytest.raises(ApplyInterrupted) as caught:
        apply_sync(
            planned, sync.client, request.keyring, concurrency=CONCURRENCY, progress=progress
        )
    result = caught.value.result
    written = _sets(sync, start)
    assert 3 <= written <= 3 + SLACK < CHANGES
    assert len(result.succeeded) == written
    assert len(result.results) == CHANGES
    assert len(result.not_applied) == CHANGES - written
