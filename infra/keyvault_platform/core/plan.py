"""Plans are data: what would change, rendered for people and for pipelines.

Provisioning and secret sync both follow Terraform's pattern::

    desired + actual -> Plan -> render -> apply -> result

A :class:`Plan` holds :class:`Change` objects (one per resource address, with
a closed :class:`Action` and the fields that differ) and :class:`Diagnostic`
objects (refusals and errors found while planning, and warnings). Rendering
only reads a plan; nothing here performs I/O besides returning strings.

Stability: the summary line ("Plan: X to add, Y to change, Z to destroy.")
and the JSON lines format are interfaces that pipelines parse. The JSON
format is versioned by :data:`JSON_UI_VERSION`: minor versions only add
fields or message types, a major version may break. Human text other than
the summary line may change.

Secret values never belong in a plan. A field marked sensitive drops its
values at construction, so they cannot render, repr or serialise.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, assert_never

JSON_UI_VERSION = "1.0"
TOOL_NAME = "keyvault-platform"


class Action(enum.Enum):
    """What applying a change does to one resource. A closed set."""

    CREATE = "create"
    UPDATE = "update"
    RECOVER = "recover"
    DELETE = "delete"
    NO_OP = "no-op"


def symbol(action: Action) -> str:
    """The one-column symbol for ``action`` (Terraform's, plus ``^`` for recover).

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
        case Action.DELETE:
            return "destroy"
        case Action.NO_OP:
            return "no change"
        case _:
            assert_never(action)


def _future(action: Action) -> str:
    """'will be ...' phrase for the per-change header."""
    match action:
        case Action.CREATE:
            return "created"
        case Action.UPDATE:
            return "updated in place"
        case Action.RECOVER:
            return "recovered from soft delete"
        case Action.DELETE:
            return "destroyed"
        case Action.NO_OP:
            return "left unchanged"
        case _:
            assert_never(action)


class _Redacted:
    """Stands in for a sensitive value; the real value is never stored."""

    _instance: _Redacted | None = None

    def __new__(cls) -> _Redacted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(sensitive value)"

    __str__ = __repr__


REDACTED: Any = _Redacted()


class _Absent:
    """Marks a field that does not exist on one side (created or removed)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    __str__ = __repr__


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldDiff:
    """One field's old and new value. ``sensitive`` fields keep neither value."""

    name: str
    old: Any = ABSENT
    new: Any = ABSENT
    sensitive: bool = False

    def __post_init__(self) -> None:
        if self.sensitive:
            # Drop the values at the door: a sensitive diff only says "changed".
            if self.old is not ABSENT:
                object.__setattr__(self, "old", REDACTED)
            if self.new is not ABSENT:
                object.__setattr__(self, "new", REDACTED)


@dataclass(frozen=True)
class Change:
    """A planned action on one resource.

    ``address`` is ``<type>.<name>`` (``vault.kv-demo``,
    ``role_assignment.app-reads-secrets``, ``secret.acme--db-password``).
    ``drift`` marks a change that undoes something done outside this tool;
    ``reason`` says why the change is planned and ``notes`` add context
    (dates, ids) that is not a field diff.
    """

    address: str
    action: Action
    fields: tuple[FieldDiff, ...] = ()
    reason: str | None = None
    drift: bool = False
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "." not in self.address:
            raise ValueError(f"address {self.address!r} must look like '<type>.<name>'")
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def resource_type(self) -> str:
        return self.address.split(".", 1)[0]

    @property
    def resource_name(self) -> str:
        return self.address.split(".", 1)[1]


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """A refusal, an error or a warning found while planning or applying."""

    severity: Severity
    summary: str
    detail: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Summary:
    """Counts in Terraform's terms: recover is counted apart, like import."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    recover: int = 0

    @property
    def total(self) -> int:
        return self.add + self.change + self.destroy + self.recover


@dataclass(frozen=True)
class Plan:
    """Changes and diagnostics. ``changes`` may include no-ops (hidden when rendered)."""

    changes: tuple[Change, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", tuple(self.changes))
        object.__setattr__(self, "diagnostics", tuple(self.diagnostics))
        seen: set[str] = set()
        for change in self.changes:
            if change.address in seen:
                raise ValueError(f"two changes for {change.address}")
            seen.add(change.address)

    @property
    def pending(self) -> tuple[Change, ...]:
        """Changes that do something, sorted by address."""
        return tuple(
            sorted(
                (c for c in self.changes if c.action is not Action.NO_OP),
                key=lambda c: c.address,
            )
        )

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NO_OP for c in self.changes)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def summary(self) -> Summary:
        counts = dict.fromkeys(Action, 0)
        for change in self.changes:
            counts[change.action] += 1
        return Summary(
            add=counts[Action.CREATE],
            change=counts[Action.UPDATE],
            destroy=counts[Action.DELETE],
            recover=counts[Action.RECOVER],
        )

    def change(self, address: str) -> Change | None:
        for candidate in self.changes:
            if candidate.address == address:
                return candidate
        return None

    def with_diagnostics(self, diagnostics: Iterable[Diagnostic]) -> Plan:
        return Plan(self.changes, (*self.diagnostics, *diagnostics))


# --------------------------------------------------------------------------
# Exit codes (Terraform's -detailed-exitcode)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES_PENDING = 2


def detailed_exit_code(plan: Plan | None, *, applied: bool, failed: bool = False) -> int:
    """0: nothing to do or all applied; 2: changes pending (dry run); 1: error.

    An error always wins: a plan with errors, or ``failed`` (apply or verify
    went wrong), gives 1 even if changes are pending.
    """
    if failed or plan is None or plan.errors:
        return EXIT_ERROR
    if plan.has_changes and not applied:
        return EXIT_CHANGES_PENDING
    return EXIT_OK


# --------------------------------------------------------------------------
# Human text

SUMMARY_FORMAT = "Plan: {add} to add, {change} to change, {destroy} to destroy."
NO_CHANGES = "No changes. Everything matches the desired state."

_COLORS = {
    Action.CREATE: "32",  # green
    Action.UPDATE: "33",  # yellow
    Action.RECOVER: "36",  # cyan
    Action.DELETE: "31",  # red
    Action.NO_OP: "0",
}


def summary_line(summary: Summary, *, operation: Literal["plan", "apply"] = "plan") -> str:
    """The summary sentence. Treated as API: pipelines grep it.

    A recover is listed first, only when there is one, the way Terraform
    lists imports: "Plan: 1 to recover, 0 to add, 0 to change, 0 to destroy."
    """
    if operation == "apply":
        text = (
            f"Apply complete! Resources: {summary.add} added, {summary.change} changed, "
            f"{summary.destroy} destroyed."
        )
        if summary.recover:
            text = text.replace("Resources: ", f"Resources: {summary.recover} recovered, ")
        return text
    text = SUMMARY_FORMAT.format(add=summary.add, change=summary.change, destroy=summary.destroy)
    if summary.recover:
        text = text.replace("Plan: ", f"Plan: {summary.recover} to recover, ")
    return text


def format_value(value: Any) -> str:
    """A field value as shown in text: JSON-ish, stable, short."""
    if value is REDACTED or value is ABSENT:
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False)


def _paint(text: str, action: Action, color: bool) -> str:
    if not color or action is Action.NO_OP:
        return text
    return f"\x1b[{_COLORS[action]}m{text}\x1b[0m"


def _field_line(diff: FieldDiff, color: bool) -> str:
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
    for diagnostic in sorted(plan.warnings, key=_diagnostic_key):
        lines.extend(_diagnostic_lines(diagnostic, color))
        lines.append("")
    errors = sorted(plan.errors, key=_diagnostic_key)
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


def _diagnostic_key(diagnostic: Diagnostic) -> tuple[str, str]:
    return (diagnostic.address or "", diagnostic.summary)


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


# --------------------------------------------------------------------------
# JSON lines (machine-readable; versioned)


def _jsonable(value: Any) -> Any:
    if value is REDACTED or value is ABSENT:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    return str(value)


def _field_json(diff: FieldDiff) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": diff.name, "sensitive": diff.sensitive}
    if diff.sensitive:
        entry["before_known"] = diff.old is not ABSENT
        entry["after_known"] = diff.new is not ABSENT
        return entry
    entry["before"] = _jsonable(diff.old)
    entry["after"] = _jsonable(diff.new)
    entry["before_absent"] = diff.old is ABSENT
    entry["after_absent"] = diff.new is ABSENT
    return entry


def _message(level: str, text: str, type_: str, **payload: Any) -> str:
    return json.dumps(
        {"@level": level, "@message": text, "type": type_, **payload},
        ensure_ascii=False,
        sort_keys=False,
    )


def version_message() -> str:
    """The first line of every JSON stream."""
    return _message(
        "info",
        f"{TOOL_NAME} (ui {JSON_UI_VERSION})",
        "version",
        tool=TOOL_NAME,
        ui=JSON_UI_VERSION,
    )


def change_json(change: Change) -> dict[str, Any]:
    return {
        "resource": {
            "addr": change.address,
            "resource_type": change.resource_type,
            "resource_name": change.resource_name,
        },
        "action": change.action.value,
        "reason": change.reason,
        "drift": change.drift,
        "fields": [_field_json(d) for d in change.fields],
        "notes": list(change.notes),
    }


def diagnostic_message(diagnostic: Diagnostic) -> str:
    return _message(
        diagnostic.severity,
        diagnostic.summary,
        "diagnostic",
        diagnostic={
            "severity": diagnostic.severity,
            "summary": diagnostic.summary,
            "detail": diagnostic.detail,
            "address": diagnostic.address,
        },
    )


def summary_message(summary: Summary, *, operation: Literal["plan", "apply"]) -> str:
    return _message(
        "info",
        summary_line(summary, operation=operation),
        "change_summary",
        changes={
            "add": summary.add,
            "change": summary.change,
            "remove": summary.destroy,
            "recover": summary.recover,
            "operation": operation,
        },
    )


def validate_summary_message(
    text: str, *, valid: bool, environments: int, manifests: int, secrets: int, problems: int
) -> str:
    """The last line of ``validate --output json``: what was checked, and the verdict."""
    return _message(
        "info" if valid else "error",
        text,
        "validate_summary",
        validation={
            "valid": valid,
            "environments": environments,
            "manifests": manifests,
            "secrets": secrets,
            "problems": problems,
        },
    )


def render_json_lines(plan: Plan, *, include_version: bool = True) -> list[str]:
    """The plan for pipelines: one JSON object per line.

    Order: ``version`` (unless the caller already sent it), one
    ``planned_change`` per pending change (sorted by address), one
    ``diagnostic`` per warning and error, then ``change_summary``
    (omitted when the plan has errors, as nothing will be applied).
    """
    lines = [version_message()] if include_version else []
    for change in plan.pending:
        verb = describe(change.action).split(" ")[0]
        lines.append(
            _message(
                "info",
                f"{change.address}: plan to {verb}",
                "planned_change",
                change=change_json(change),
            )
        )
    for diagnostic in sorted(plan.warnings, key=_diagnostic_key):
        lines.append(diagnostic_message(diagnostic))
    for diagnostic in sorted(plan.errors, key=_diagnostic_key):
        lines.append(diagnostic_message(diagnostic))
    if not plan.errors:
        lines.append(summary_message(plan.summary, operation="plan"))
    return lines


def render_json(plan: Plan, *, include_version: bool = True) -> str:
    return "\n".join(render_json_lines(plan, include_version=include_version)) + "\n"


def apply_complete_message(change: Change) -> str:
    """One ``apply_complete`` line for a change that was applied."""
    return _message(
        "info",
        f"{change.address}: {describe(change.action).split(' ')[0]} complete",
        "apply_complete",
        hook={
            "resource": change_json(change)["resource"],
            "action": change.action.value,
        },
    )


__all__ = [
    "ABSENT",
    "EXIT_CHANGES_PENDING",
    "EXIT_ERROR",
    "EXIT_OK",
    "JSON_UI_VERSION",
    "REDACTED",
    "Action",
    "Change",
    "Diagnostic",
    "FieldDiff",
    "Plan",
    "Summary",
    "apply_complete_message",
    "describe",
    "detailed_exit_code",
    "diagnostic_message",
    "format_value",
    "render_json",
    "render_json_lines",
    "render_text",
    "summary_line",
    "summary_message",
    "symbol",
    "validate_summary_message",
    "version_message",
]
