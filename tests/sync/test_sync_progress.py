"""Progress: a bar on a terminal, plain lines in pipelines, nothing for small applies."""

from __future__ import annotations

import io

from keyvault_platform.cli.sync import Progress


def test_plain_lines_every_tenth() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=False)
    for done in range(0, 201):
        progress(done, 200, 0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # 0%, 10%, ..., 100%
    assert lines[-1].startswith("  200/200 applied")
    assert "\r" not in stream.getvalue()


def test_bar_on_a_terminal_ends_with_a_newline() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    progress(0, 100, 0)
    progress(100, 100, 3)
    text = stream.getvalue()
    assert text.startswith("\r  [")
    assert "100/100 applied, 3 failed" in text and text.endswith("\n")


def test_small_applies_print_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    for done in range(10):
        progress(done, 9, 0)
    assert stream.getvalue() == ""
