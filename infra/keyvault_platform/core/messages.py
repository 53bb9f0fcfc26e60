"""JSON lines for pipelines: one envelope, a closed set of message types.

With ``--output json`` every command prints one JSON object per line on
stdout, and every such line is built here (a test fails if another module
builds one). Each line is the envelope::

    {"@level": "info", "@message": "<the human text>", "type": "<type>", ...payload}

``@level`` is ``info``, ``warning`` or ``error``; ``@message`` is the human
text (not a stable interface, except where it is the summary line); ``type``
is one of :class:`MessageType`, and says which payload fields follow. Each
type has exactly one builder here, named like the type. The first line of
a stream is always ``version``.

Stability, like Terraform's machine-readable UI: :data:`JSON_UI_VERSION` is
``major.minor``. A minor version only adds (a message type, a payload field);
a major version may remove or change one. Consumers ignore types and fields
they do not know. The reference, a table of every type and its fields, is
the "JSON output" section of ``docs/pipelines.md``; a test checks that it
lists exactly :class:`MessageType`.

No secret value ever reaches a line: plans drop sensitive values when they
are built, and a sensitive field says only whether each side exists.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

from keyvault_platform.core.plan import ABSENT, Change, Diagnostic, FieldDiff, Plan, Summary
from keyvault_platform.core.plan import plain_value as _plain
from keyvault_platform.core.problems import Location
from keyvault_platform.core.views import Operation, sorted_diagnostics, summary_line, verb

JSON_UI_VERSION = "1.1"
TOOL_NAME = "keyvault-platform"

Level = Literal["info", "warning", "error"]


class MessageType(enum.StrEnum):
    """Every ``type`` a JSON line can have. A closed set: adding one is a minor version."""

    VERSION = "version"
    PLANNED_CHANGE = "planned_change"
    DIAGNOSTIC = "diagnostic"
    CHANGE_SUMMARY = "change_summary"
    APPLY_COMPLETE = "apply_complete"
    VERIFY_RESULT = "verify_result"
    VALIDATE_SUMMARY = "validate_summary"
    DEMO_STEP = "demo_step"
    DEMO_SUMMARY = "demo_summary"


def _envelope(level: Level, text: str, type_: MessageType, **payload: Any) -> str:
    """The one place a JSON line is serialised."""
    return json.dumps(
        {"@level": level, "@message": text, "type": type_.value, **payload},
        ensure_ascii=False,
    )


# --------------------------------------------------------------------------
# One builder per message type


def version() -> str:
    """``version``: the first line of every stream."""
    return _envelope(
        "info",
        f"{TOOL_NAME} (ui {JSON_UI_VERSION})",
        MessageType.VERSION,
        tool=TOOL_NAME,
        ui=JSON_UI_VERSION,
    )


def planned_change(change: Change) -> str:
    """``planned_change``: one change the plan would make."""
    return _envelope(
        "info",
        f"{change.address}: plan to {verb(change.action)}",
        MessageType.PLANNED_CHANGE,
        change=_change(change),
    )


def diagnostic(found: Diagnostic, *, location: Location | None = None) -> str:
    """``diagnostic``: a warning or an error, from planning, applying or the command.

    ``location``: the input file and position it is about (an invalid manifest
    or environment file), as ``file``, ``line`` and ``column`` (1-based);
    each is ``null`` when unknown, ``line`` and ``column`` when it concerns
    the whole file.
    """
    return _envelope(
        found.severity,
        found.summary,
        MessageType.DIAGNOSTIC,
        diagnostic={
            "severity": found.severity,
            "summary": found.summary,
            "detail": found.detail,
            "address": found.address,
            "file": location.file if location else None,
            "line": location.line if location and location.line else None,
            "column": location.column if location and location.line else None,
        },
    )


def change_summary(summary: Summary, *, operation: Operation) -> str:
    """``change_summary``: the counts; ``@message`` is the summary line."""
    return _envelope(
        "info",
        summary_line(summary, operation=operation),
        MessageType.CHANGE_SUMMARY,
        changes={
            "add": summary.add,
            "change": summary.change,
            "remove": summary.destroy,
            "recover": summary.recover,
            "adopt": summary.adopt,
            "operation": operation,
        },
    )


def apply_complete(change: Change) -> str:
    """``apply_complete``: one change that was applied."""
    return _envelope(
        "info",
        f"{change.address}: {verb(change.action)} complete",
        MessageType.APPLY_COMPLETE,
        hook={"resource": _resource(change), "action": change.action.value},
    )


def verify_result(
    name: str, status: str, *, detail: str | None = None, address: str | None = None
) -> str:
    """``verify_result``: one check after provisioning (``ok``, ``failed`` or ``skipped``)."""
    return _envelope(
        "error" if status == "failed" else "info",
        f"verify: {name}: {status}",
        MessageType.VERIFY_RESULT,
        check={"name": name, "status": status, "detail": detail or None, "address": address},
    )


def validate_summary(
    text: str, *, valid: bool, environments: int, manifests: int, secrets: int, problems: int
) -> str:
    """``validate_summary``: the last line of ``validate``: what was checked, and the verdict."""
    return _envelope(
        "info" if valid else "error",
        text,
        MessageType.VALIDATE_SUMMARY,
        validation={
            "valid": valid,
            "environments": environments,
            "manifests": manifests,
            "secrets": secrets,
            "problems": problems,
        },
    )


def demo_step(text: str, *, step: str, **details: Any) -> str:
    """``demo_step``: one step of ``make demo`` finished; ``details`` depend on the step.

    ``emulator``: ``url``; ``provision`` and ``sync``: ``changed``,
    ``summary``; ``app``: ``output`` (its lines); ``audit``: ``app_requests``.
    """
    return _envelope("info", text, MessageType.DEMO_STEP, step=step, **details)


def demo_summary(
    *,
    changed: bool,
    provision: str | None,
    sync: str | None,
    vault_url: str | None,
    secrets: list[str],
    app_requests: int,
    elapsed_s: float,
) -> str:
    """``demo_summary``: the last line of ``make demo``: what changed and what exists."""
    return _envelope(
        "info",
        "demo complete",
        MessageType.DEMO_SUMMARY,
        changed=changed,
        provision=provision,
        sync=sync,
        vault_url=vault_url,
        secrets=secrets,
        app_requests=app_requests,
        elapsed_s=elapsed_s,
    )


# --------------------------------------------------------------------------
# A plan as a stream


def render_json_lines(plan: Plan, *, include_version: bool = True) -> list[str]:
    """The plan for pipelines: one JSON object per line.

    Order: ``version`` (unless the caller already sent it), one
    ``planned_change`` per pending change (sorted by address), one
    ``diagnostic`` per warning and then per error, then ``change_summary``
    (omitted when the plan has errors, as nothing will be applied).
    """
    lines = [version()] if include_version else []
    lines.extend(planned_change(change) for change in plan.pending)
    lines.extend(diagnostic(found) for found in sorted_diagnostics(plan.warnings))
    lines.extend(diagnostic(found) for found in sorted_diagnostics(plan.errors))
    if not plan.errors:
        lines.append(change_summary(plan.summary, operation="plan"))
    return lines


def render_json(plan: Plan, *, include_version: bool = True) -> str:
    """:func:`render_json_lines` as one text, each line ending in a newline."""
    return "\n".join(render_json_lines(plan, include_version=include_version)) + "\n"


# --------------------------------------------------------------------------
# Payload parts


def _resource(change: Change) -> dict[str, Any]:
    return {
        "addr": change.address,
        "resource_type": change.resource_type,
        "resource_name": change.resource_name,
    }


def change_data(change: Change) -> dict[str, Any]:
    """A change as plain data: the ``change`` of a ``planned_change`` line (and of a plan file)."""
    return _change(change)


def _change(change: Change) -> dict[str, Any]:
    return {
        "resource": _resource(change),
        "action": change.action.value,
        "reason": change.reason,
        "drift": change.drift,
        "compared_at_apply": change.deferred,
        "fields": [_field(d) for d in change.fields],
        "notes": list(change.notes),
    }


def _field(diff: FieldDiff) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": diff.name, "sensitive": diff.sensitive}
    if diff.sensitive:
        entry["before_known"] = diff.old is not ABSENT
        entry["after_known"] = diff.new is not ABSENT
        entry["compared_at_apply"] = diff.deferred
        return entry
    entry["before"] = _plain(diff.old)
    entry["after"] = _plain(diff.new)
    entry["before_absent"] = diff.old is ABSENT
    entry["after_absent"] = diff.new is ABSENT
    return entry


__all__ = [
    "JSON_UI_VERSION",
    "TOOL_NAME",
    "Level",
    "MessageType",
    "apply_complete",
    "change_data",
    "change_summary",
    "demo_step",
    "demo_summary",
    "diagnostic",
    "planned_change",
    "render_json",
    "render_json_lines",
    "validate_summary",
    "verify_result",
    "version",
]
