"""Text that is safe to print: control characters shown, never obeyed.

Request paths, names and headers come from unauthenticated clients; printed
raw, an ESC or CR in one could clear the operator's terminal or forge a line
of the audit log or the request log. Every text output of the emulator goes
through ``printable``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and
# bidirectional overrides that can reorder or break a terminal line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (a backslash too)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return _CONTROL.sub(_escape, text)


class EscapingFormatter(logging.Formatter):
    """A log formatter whose messages hold no control characters (a line is a line).

    A traceback keeps its own line breaks; each of its lines is escaped.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))
