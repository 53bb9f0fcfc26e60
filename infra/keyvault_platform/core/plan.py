"""Plans are data: what would change, as frozen values and a closed set of actions.

Provisioning and secret sync both follow Terraform's pattern::

    desired + actual -> Plan -> render -> apply -> result

A :class:`Plan` holds :class:`Change` objects (one per resource address, with
a closed :class:`Action` and the fields that differ) and :class:`Diagnostic`
objects (refusals and errors found while planning, and warnings). Two views
only read a plan: :mod:`keyvault_platform.core.views` renders it for people,
:mod:`keyvault_platform.core.messages` as JSON lines for pipelines. The exit
codes (Terraform's ``-detailed-exitcode``) follow from a plan too.

Secret values never belong in a plan. A field marked sensitive drops its
values at construction, so they cannot render, repr or serialise.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


class Action(enum.Enum):
    """What applying a change does to one resource. A closed set."""

    CREATE = "create"
    UPDATE = "update"
    RECOVER = "recover"
    DELETE = "delete"
    NO_OP = "no-op"


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


class _Deferred:
    """A value the plan did not compare: a plan made without values compares it at apply."""

    _instance: _Deferred | None = None

    def __new__(cls) -> _Deferred:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(compared at apply)"

    __str__ = __repr__


DEFERRED: Any = _Deferred()


def plain_value(value: Any) -> Any:
    """A field value as plain data (what JSON holds), for both views.

    The sensitive and absent markers become ``None``; mappings get string
    keys; sets become lists in a stable order; enums become their value;
    anything else unknown becomes its ``str``.
    """
    if value is REDACTED or value is ABSENT or value is DEFERRED:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        items = [plain_value(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if isinstance(value, enum.Enum):
        return plain_value(value.value)
    return str(value)


@dataclass(frozen=True)
class FieldDiff:
    """One field's old and new value. ``sensitive`` fields keep neither value.

    ``new`` may be :data:`DEFERRED`: the plan could not compare it (made
    without values), and the apply will.
    """

    name: str
    old: Any = ABSENT
    new: Any = ABSENT
    sensitive: bool = False

    def __post_init__(self) -> None:
        if self.sensitive:
            # Drop the values at the door: a sensitive diff only says "changed".
            if self.old is not ABSENT:
                object.__setattr__(self, "old", REDACTED)
            if self.new is not ABSENT and self.new is not DEFERRED:
                object.__setattr__(self, "new", REDACTED)

    @property
    def deferred(self) -> bool:
        return self.new is DEFERRED


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
    def deferred(self) -> bool:
        """Whether a field is compared only at apply (a plan made without values)."""
        return any(f.deferred for f in self.fields)

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


__all__ = [
    "ABSENT",
    "DEFERRED",
    "EXIT_CHANGES_PENDING",
    "EXIT_ERROR",
    "EXIT_OK",
    "REDACTED",
    "Action",
    "Change",
    "Diagnostic",
    "FieldDiff",
    "Plan",
    "Severity",
    "Summary",
    "detailed_exit_code",
    "plain_value",
]
