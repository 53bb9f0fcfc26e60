"""Errors that tell the user what went wrong and what to do about it.

Infra modules raise :class:`ActionableError` (or a subclass) when a failure
has a known remedy; the command-line layer (:mod:`keyvault_platform.cli.conventions`) prints the
message and the hint and exits 1. Messages never contain secret values.
"""

from __future__ import annotations


class ActionableError(Exception):
    """A failure with a known remedy.

    :param message: what went wrong, naming the resource involved.
    :keyword hint: what the user can do about it (optional).
    :keyword address: the plan address concerned, if any.
    """

    def __init__(self, message: str, *, hint: str | None = None, address: str | None = None):
        self.message = message
        self.hint = hint
        self.address = address
        super().__init__(message if not hint else f"{message}\n  hint: {hint}")
