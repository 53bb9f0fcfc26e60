"""Where an input is wrong: a :class:`Location` in a file and the :class:`Problem` there.

Every loader reports with these, and :class:`~keyvault_platform.core.errors.InputError`
carries them, so every problem of every file reads ``file:line:col: message``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column are 1-based.

    Line 0 means the file as a whole (not found, a directory, too large);
    it shows as ``file`` alone.
    """

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, and where."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"
