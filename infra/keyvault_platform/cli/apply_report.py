"""What an apply reports, the same way for provisioning and the sync.

One :class:`~keyvault_platform.core.executor.ApplyResult` renders as text::

    Applied:                              (or "Applied before the interrupt:")
      + role_assignment.app (already existed under another name)
    Failed changes:
      vault.kv-demo: update failed: could not update vault 'kv-demo': ...
        hint: ...
    Skipped (a change they depend on failed):
      + role_assignment.sync (needs vault.kv-demo)
    Not applied (interrupted):
      + secret.acme--b
    Warning: delete: already deleted since the plan was made; ... (secret.acme--c)

    Apply failed: 1 error; 1 of 3 changes applied.

Each failure is printed once. Like Terraform, the summary ("Apply complete!
Resources: ...", text or ``change_summary`` JSON line) appears only when
every change was applied; otherwise the run ends with :func:`apply_failed_line`
or, after Ctrl-C, :func:`apply_interrupted_line`. JSON gets an
``apply_complete`` line per applied change, a warning ``diagnostic`` per note
and per skipped change, an error ``diagnostic`` per failure, and after
Ctrl-C one error ``diagnostic`` naming what was not applied.
"""

from __future__ import annotations

from collections.abc import Callable

from keyvault_platform.cli.conventions import Output
from keyvault_platform.core import messages, views
from keyvault_platform.core import plan as plans
from keyvault_platform.core.executor import ApplyResult, TaskResult


def applied_plan(plan: plans.Plan, result: ApplyResult) -> plans.Plan:
    """The part of ``plan`` that was applied (for the "Apply complete!" summary)."""
    ok = {r.address for r in result.succeeded}
    return plans.Plan(tuple(c for c in plan.changes if c.address in ok))


def apply_failed_line(errors: int, applied: int, total: int) -> str:
    """The last line of a failed apply, in the words of "Planning failed: ..."."""
    return (
        f"Apply failed: {errors} error{'s' if errors != 1 else ''}; "
        f"{applied} of {total} change{'s' if total != 1 else ''} applied."
    )


def apply_interrupted_line(applied: int, total: int, *, rerun: str) -> str:
    """The last line of an interrupted apply."""
    return (
        f"Apply interrupted: {applied} of {total} change{'s' if total != 1 else ''} applied; "
        f"{rerun}."
    )


def failure_diagnostic(result: TaskResult, *, rerun: str) -> plans.Diagnostic:
    detail = f"after {result.attempts} attempt(s); {rerun}"
    if result.hint:
        detail = f"hint: {result.hint}\n{detail}"
    return plans.Diagnostic(
        "error", f"{result.action.value} failed: {result.error}", detail, result.address
    )


def skipped_diagnostic(result: TaskResult) -> plans.Diagnostic:
    return plans.Diagnostic(
        "warning",
        f"{result.action.value} not applied: {result.blocked_by} failed",
        None,
        result.address,
    )


def note_diagnostic(result: TaskResult) -> plans.Diagnostic:
    """A change that succeeded another way than planned (see ``TaskResult.note``)."""
    summary = f"{result.action.value}: {result.note}"
    return plans.Diagnostic("warning", summary, None, result.address)


def report_apply(out: Output, plan: plans.Plan, result: ApplyResult, *, rerun: str) -> bool:
    """Print what an apply did; returns whether anything failed or was left undone.

    ``rerun`` says how to converge after a failure ("re-run the sync to converge").
    """
    applied = applied_plan(plan, result)
    total = len(plan.pending)
    noted = [r for r in result.succeeded if r.note]
    undone = bool(result.failed or result.skipped) or result.interrupted
    if out.json:
        _report_json(out, applied, result, noted, total, rerun=rerun)
        return undone
    out.line("")
    sections: tuple[tuple[str, list[TaskResult], Callable[[TaskResult], list[str]]], ...] = (
        (
            "Applied before the interrupt:" if result.interrupted else "Applied:",
            result.succeeded,
            _applied_lines,
        ),
        ("Failed changes:", result.failed, _failed_lines),
        ("Skipped (a change they depend on failed):", result.skipped, _skipped_lines),
        ("Not applied (interrupted):", result.not_applied, _applied_lines),
    )
    halted = result.halted_by is not None and not result.interrupted
    if halted:
        # One failure every change would meet: said once, with its hint; the
        # changes not sent are counted, not listed (500 lines say nothing more).
        sections = sections[:1]
    for title, results, lines in sections:
        if results:
            out.line(title)
            for item in results:
                for line in lines(item):
                    out.line(line)
            out.line("")
    if halted:
        _report_halt(out, result)
    for item in noted:
        out.line(f"Warning: {note_diagnostic(item).summary} ({item.address})")
    if noted:
        out.line("")
    if result.interrupted:
        out.line(apply_interrupted_line(len(applied.pending), total, rerun=rerun))
    elif undone:
        out.line(apply_failed_line(len(result.failed), len(applied.pending), total))
    else:
        out.line(views.summary_line(applied.summary, operation="apply"))
    throttled = f", {result.throttled} throttled (429) responses" if result.throttled else ""
    out.info(f"Applied in {result.elapsed_s:.1f}s{throttled}")
    return undone


def halt_line(result: ApplyResult) -> str:
    """What was not sent after a failure that halted the apply."""
    same = len(result.failed) - 1
    also = ""
    if same:
        also = f"; {same} change{'s' if same != 1 else ''} already in flight failed too"
    count = len(result.not_applied)
    return (
        f"Stopped at the first failure that every change would meet: {count} "
        f"change{'s' if count != 1 else ''} not sent{also}."
    )


def _report_halt(out: Output, result: ApplyResult) -> None:
    first = next(r for r in result.failed if r.address == result.halted_by)
    out.line("Failed changes:")
    for line in _failed_lines(first):
        out.line(line)
    others = [r for r in result.failed if r is not first]
    for item in others:
        if item.error != first.error:  # a different failure is still worth its line
            for line in _failed_lines(item):
                out.line(line)
    out.line("")
    out.line(halt_line(result))
    out.line("")


def _applied_lines(item: TaskResult) -> list[str]:
    """``  <symbol> <address>``, and how, when not the usual way."""
    outcome = f" ({item.outcome})" if item.outcome else ""
    return [f"  {views.symbol(item.action)} {item.address}{outcome}"]


def _failed_lines(item: TaskResult) -> list[str]:
    lines = [f"  {item.address}: {item.action.value} failed: {item.error}"]
    if item.hint:
        lines.append(f"    hint: {item.hint}")
    return lines


def _skipped_lines(item: TaskResult) -> list[str]:
    return [f"  {views.symbol(item.action)} {item.address} (needs {item.blocked_by})"]


def _report_json(
    out: Output,
    applied: plans.Plan,
    result: ApplyResult,
    noted: list[TaskResult],
    total: int,
    *,
    rerun: str,
) -> None:
    """Every JSON line of an apply's report (one place, for the message builders)."""
    for change in applied.pending:
        out.json_line(messages.apply_complete(change))
    for item in noted:
        out.json_line(messages.diagnostic(note_diagnostic(item)))
    for item in result.skipped:
        out.json_line(messages.diagnostic(skipped_diagnostic(item)))
    failed = result.failed
    if result.halted_by is not None and not result.interrupted:
        first = next(r for r in failed if r.address == result.halted_by)
        failed = [first] + [r for r in failed if r is not first and r.error != first.error]
    for item in failed:
        out.json_line(messages.diagnostic(failure_diagnostic(item, rerun=rerun)))
    if result.halted_by is not None and not result.interrupted:
        out.json_line(messages.diagnostic(plans.Diagnostic("error", halt_line(result))))
    if result.interrupted:
        summary = apply_interrupted_line(len(applied.pending), total, rerun=rerun)
        detail = "\n".join(f"not applied: {r.address}" for r in result.not_applied) or None
        out.json_line(messages.diagnostic(plans.Diagnostic("error", summary, detail)))
    elif not (result.failed or result.skipped):
        out.json_line(messages.change_summary(applied.summary, operation="apply"))
