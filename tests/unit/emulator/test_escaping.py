"""Escaping what clients send before it is printed."""

from __future__ import annotations

import logging

from keyvault_emulator.escaping import EscapingFormatter, printable


def test_control_characters_are_written_out_not_obeyed():
    assert printable("a\x1b[2J\rb\n\x00\x7f\x9b") == "a\\x1b[2J\\x0db\\x0a\\x00\\x7f\\x9b"
    assert printable("line\u2028sep\u202eRTL") == "line\\u2028sep\\u202eRTL"


def test_a_backslash_is_doubled_so_an_escape_cannot_be_faked():
    assert printable("\\x1b") == "\\\\x1b"
    assert printable("plain /secrets/name-1") == "plain /secrets/name-1"


def test_the_log_formatter_escapes_messages_and_keeps_traceback_lines():
    formatter = EscapingFormatter("%(message)s")
    record = logging.LogRecord("t", logging.INFO, "f", 1, "path %s", ("/x\r\nforged",), None)
    assert formatter.format(record) == "path /x\\x0d\\x0aforged"
    try:
        raise ValueError("bad\x1b")
    except ValueError:
        import sys

        failed = logging.LogRecord("t", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    text = formatter.format(failed)
    assert "\x1b" not in text and "\\x1b" in text and text.count("\n") >= 2
