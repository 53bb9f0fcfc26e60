"""The errors the tool raises for its user to read, under one base.

Every error written for people derives from :class:`ToolError` and says how
it reads, as :class:`ErrorReport` lines; the command-line layer
(:func:`keyvault_platform.cli.conventions.describe_exception`) prints those
and exits 1, with no other case to know. Anything else that escapes is a
bug or an Azure SDK error, and is described as such. Messages never contain
secret values.

- :class:`InputError`: the inputs are wrong; every problem found, each at
  its ``file:line:col``. Nothing was written.
- :class:`ActionableError`: a failure with a known remedy: a message, a
  hint, and the plan address concerned. Subclassed where callers tell cases
  apart (``keyvault_platform.provision.vault.AccessDenied``).
- Other tool errors derive from :class:`ToolError` directly
  (``keyvault_platform.sync.fingerprint.FingerprintKeyError``).

Errors that never leave the module that raises them (a step's failure
inside the executor, the permissions API being unavailable) stay plain
exceptions: they are turned into results or diagnostics, not shown as they
are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from keyvault_platform.core.problems import Problem


class ErrorReport(NamedTuple):
    """One line of an error as the user sees it."""

    summary: str
    detail: str | None = None  # printed indented under the summary
    address: str | None = None  # the plan address concerned, for JSON diagnostics


class ToolError(Exception):
    """Base of every error whose message is written for the tool's user.

    Its text is safe to print (no secret values) and says what went wrong;
    :meth:`reports` says how it reads. Subclasses with more than a message
    override :meth:`reports`.
    """

    def reports(self) -> list[ErrorReport]:
        return [ErrorReport(str(self))]


class InputError(ToolError):
    """Raised with every problem found in the inputs; nothing was written.

    :param problems: each with its location; kept sorted by file, line and
        column, so all of them read in file order.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def reports(self) -> list[ErrorReport]:
        return [ErrorReport(str(problem)) for problem in self.problems]


class ActionableError(ToolError):
    """A failure with a known remedy.

    :param message: what went wrong, naming the resource involved.
    :keyword hint: what the user can do about it (optional).
    :keyword address: the plan address concerned, if any.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, address: str | None = None
    ) -> None:
        self.message = message
        self.hint = hint
        self.address = address
        super().__init__(message if not hint else f"{message}\n  hint: {hint}")

    def reports(self) -> list[ErrorReport]:
        return [
            ErrorReport(self.message, f"hint: {self.hint}" if self.hint else None, self.address)
        ]
