"""A plan for people: Terraform's symbols, legend, per-change blocks and summary line.

Rendering only reads a :class:`~keyvault_platform.core.plan.Plan` and returns
strings. Changes are listed by address with no-ops hidden; the legend shows
only the symbols used; an empty plan gets its own sentence.

Stability: the summary line ("Plan: X to add, Y to change, Z to destroy.",
"Apply complete! Resources: ...") is an interface that pipelines grep, and
so are the symbols. Other human text may change; pipelines that need more
read the JSON lines (:mod:`keyvault_platform.core.messages`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal, assert_never

from keyvault_platform.core.plan import (
    ABSENT,
    DEFERRED,
    REDACTED,
    Action,
    Diagnostic,
    FieldDiff,
    Plan,
    Summary,
    plain_value,
)

#: Which summary sentence: the plan's, or the apply's.
Operation = Literal["plan", "apply"]

SUMMARY_FORMAT = "Plan: {add} to add, {change} to change, {destroy} to destroy."
NO_CHANGES = "No changes. Everything matches the desired state."


def symbol(action: Action) -> str:
    """The one-column symbol for ``action`` (Terraform's, plus ``^`` recover, ``=`` adopt).

    Exhaustive: a new action without a symbol is a type error and a test
    failure, never a silent ``?``.
    """
    match action:
        case Action.CREATE:
            return "+"
        case Action.UPDATE:
            return "~"
        case Action.RECOVER:
            return "^"
        case Action.ADOPT:
            return "="
        case Action.DELETE:
            return "-"
        case Action.NO_OP:
            return " "
        case _:
            assert_never(action)


def describe(action: Action) -> str:
    """Legend text for ``action``."""
    match action:
        case Action.CREATE:
            return "create"
        case Action.UPDATE:
            return "update in place"
        case Action.RECOVER:
            return "recover (restore from soft delete)"
        case Action.ADOPT:
            return "adopt (take ownership, keep the value)"
        case Action.DELETE:
            return "destroy"
        case Action.NO_OP:
            return "no change"
        case _:
            assert_never(action)


def verb(action: Action) -> str:
    """The one-word verb of ``action`` ("create", "update", "recover", "destroy")."""
    return describe(action).split(" ")[0]


def _future(action: Action) -> str:
    """'will be ...' phrase for the per-change header."""
    match action:
        case Action.CREATE:
            return "created"
        case Action.UPDATE:
            return "updated in place"
        case Action.RECOVER:
            return "recovered from soft delete"
        case Action.ADOPT:
            return "adopted (its value kept)"
        case Action.DELETE:
            return "destroyed"
        case Action.NO_OP:
            return "left unchanged"
        case _:
            assert_never(action)


def _color(action: Action) -> str:
    """The ANSI colour code of ``action``'s symbol."""
    match action:
        case Action.CREATE:
            return "32"  # green
        case Action.UPDATE:
            return "33"  # yellow
        case Action.RECOVER:
            return "36"  # cyan
        case Action.ADOPT:
            return "34"  # blue
        case Action.DELETE:
            return "31"  # red
        case Action.NO_OP:
            return "0"
        case _:
            assert_never(action)


def summary_line(summary: Summary, *, operation: Operation = "plan") -> str:
    """The summary sentence. Treated as API: pipelines grep it.

    Recovers and adoptions are listed first, only when there are some, the
    way Terraform lists imports: "Plan: 1 to recover, 2 to adopt, 0 to add,
    0 to change, 0 to destroy."
    """
    if operation == "apply":
        text = (
            f"Apply complete! Resources: {summary.add} added, {summary.change} changed, "
            f"{summary.destroy} destroyed."
        )
        if summary.adopt:
            text = text.replace("Resources: ", f"Resources: {summary.adopt} adopted, ")
        if summary.recover:
            text = text.replace("Resources: ", f"Resources: {summary.recover} recovered, ")
        return text
    text = SUMMARY_FORMAT.format(add=summary.add, change=summary.change, destroy=summary.destroy)
    if summary.adopt:
        text = text.replace("Plan: ", f"Plan: {summary.adopt} to adopt, ")
    if summary.recover:
        text = text.replace("Plan: ", f"Plan: {summary.recover} to recover, ")
    return text


def deferred_line(count: int) -> str:
    """What a plan made without values says under its summary line."""
    return (
        f"{count} of these compare a value at apply (this plan was made without values): "
        "where the value matches, the apply writes no value."
    )


def format_value(value: Any) -> str:
    """A field value as shown in text: JSON notation, stable (sorted keys), short."""
    if value is REDACTED or value is ABSENT or value is DEFERRED:
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(plain_value(value), sort_keys=True, ensure_ascii=False)


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in the order both views show them: by address, then summary."""
    return sorted(diagnostics, key=lambda d: (d.address or "", d.summary))


def _paint(text: str, action: Action, color: bool) -> str:
    if not color or action is Action.NO_OP:
        return text
    return f"\x1b[{_color(action)}m{text}\x1b[0m"


def _field_line(diff: FieldDiff, color: bool) -> str:
    if diff.deferred:
        return f"{_paint('~', Action.UPDATE, color)} {diff.name} = {DEFERRED}"
    if diff.old is ABSENT:
        return f"{_paint('+', Action.CREATE, color)} {diff.name} = {format_value(diff.new)}"
    if diff.new is ABSENT:
        return f"{_paint('-', Action.DELETE, color)} {diff.name} = {format_value(diff.old)}"
    if diff.sensitive:
        return f"{_paint('~', Action.UPDATE, color)} {diff.name} = (sensitive value changed)"
    return (
        f"{_paint('~', Action.UPDATE, color)} {diff.name}: "
        f"{format_value(diff.old)} -> {format_value(diff.new)}"
    )


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The plan for people: legend, changes by address, diagnostics, summary."""
    lines: list[str] = []
    pending = plan.pending
    if pending:
        used = sorted({c.action for c in pending}, key=list(Action).index)
        lines.append("Actions are shown with these symbols:")
        lines.extend(f"  {_paint(symbol(a), a, color)} {describe(a)}" for a in used)
        lines.append("")
        lines.append("Planned changes:")
        for change in pending:
            lines.append("")
            header = f"  # {change.address} will be {_future(change.action)}"
            if change.drift:
                header += " (drift: changed outside this tool)"
            lines.append(header)
            if change.reason:
                lines.append(f"  # ({change.reason})")
            mark = _paint(symbol(change.action), change.action, color)
            lines.append(f"  {mark} {change.address}")
            lines.extend(f"      {_field_line(d, color)}" for d in change.fields)
            lines.extend(f"      note: {note}" for note in change.notes)
        lines.append("")
        deferred = sum(1 for c in pending if c.deferred)
        if deferred:
            lines.append(deferred_line(deferred))
            lines.append("")
    if plan.found:
        lines.append("Found as declared, made outside this tool (adopted; no change):")
        lines.extend(f"  {change.address}: {change.reason}" for change in plan.found)
        lines.append("")
    for diagnostic in sorted_diagnostics(plan.warnings):
        lines.extend(_diagnostic_lines(diagnostic, color))
        lines.append("")
    errors = sorted_diagnostics(plan.errors)
    for diagnostic in errors:
        lines.extend(_diagnostic_lines(diagnostic, color))
        lines.append("")
    if errors:
        count = len(errors)
        lines.append(
            f"Planning failed: {count} error{'s' if count != 1 else ''}; nothing will be applied."
        )
    elif pending:
        lines.append(summary_line(plan.summary))
    else:
        lines.append(NO_CHANGES)
    return "\n".join(lines) + "\n"


def fenced(text: str, *, info: str = "text") -> str:
    """``text`` as a Markdown code block that nothing in it can close.

    The fence is one backtick longer than the longest run of backticks in
    the text (at least three), so a line of ``+``, ``-`` or ``#`` stays
    verbatim instead of becoming a list or a heading.
    """
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def render_markdown(plan: Plan) -> str:
    """The plan for a job summary or a pull-request comment: the verdict, then the text plan.

    The verdict (the summary line, or "Planning failed: ...") is bold on top
    so it reads without opening the block; the plan itself is fenced.
    """
    errors = len(plan.errors)
    if errors:
        verdict = f"Planning failed: {errors} error{'s' if errors != 1 else ''}."
    elif plan.pending:
        verdict = summary_line(plan.summary)
    else:
        verdict = NO_CHANGES
    return f"**{verdict}**\n\n{fenced(render_text(plan, color=False))}"


def _diagnostic_lines(diagnostic: Diagnostic, color: bool) -> list[str]:
    label = "Error" if diagnostic.severity == "error" else "Warning"
    code = "31" if diagnostic.severity == "error" else "33"
    head = f"\x1b[{code}m{label}:\x1b[0m" if color else f"{label}:"
    text = f"{head} {diagnostic.summary}"
    if diagnostic.address:
        text += f" ({diagnostic.address})"
    lines = [text]
    if diagnostic.detail:
        lines.extend(f"  {line}" if line else "" for line in diagnostic.detail.splitlines())
    return lines


__all__ = [
    "NO_CHANGES",
    "SUMMARY_FORMAT",
    "Operation",
    "deferred_line",
    "describe",
    "fenced",
    "format_value",
    "render_markdown",
    "render_text",
    "sorted_diagnostics",
    "summary_line",
    "symbol",
    "verb",
]
