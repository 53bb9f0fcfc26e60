"""The leak scanner itself: it must find a planted value wherever it hides.

A scanner that never fires proves nothing, so each channel it claims to
watch gets a planted value here, and a clean run must pass.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sys
import urllib.parse
import uuid
import warnings

import pytest

from .leakscan import LeakScanner


def planted() -> str:
    return f"planted-{uuid.uuid4().hex}"


def leaks(scanner: LeakScanner) -> bool:
    try:
        scanner.assert_clean()
    except AssertionError as failure:
        for value in scanner._values:  # the failure names labels, never values
            assert value not in str(failure)
        return True
    return False


@pytest.mark.parametrize(
    "channel",
    ["stdout", "stderr", "root-debug", "isolated-logger", "warning", "exception"],
)
def test_each_channel_is_watched(channel: str) -> None:
    value = planted()
    scanner = LeakScanner([value])
    isolated = logging.getLogger(f"isolated.{uuid.uuid4().hex}")
    isolated.propagate = False
    isolated.setLevel(logging.CRITICAL)  # the scanner lowers it for the run
    expect = pytest.raises(RuntimeError) if channel == "exception" else contextlib.nullcontext()
    with expect, scanner.capture():
        if channel == "stdout":
            print("here:", value)
        elif channel == "stderr":
            sys.stderr.write(value)
        elif channel == "root-debug":
            logging.getLogger("azure.core.deep").debug("body=%s", value)
        elif channel == "isolated-logger":
            isolated.debug("hidden %s", value)
        elif channel == "warning":
            warnings.warn(f"careful {value}", UserWarning, stacklevel=1)
        elif channel == "exception":
            try:
                raise KeyError(value)
            except KeyError as inner:
                raise RuntimeError("wrapped") from inner
    assert leaks(scanner), channel


@pytest.mark.parametrize("encoding", ["json", "percent", "base64-0", "base64-1", "base64-2"])
def test_encoded_forms_are_found(encoding: str) -> None:
    value = planted() + ' "quoted" & / +'
    scanner = LeakScanner([value])
    if encoding == "json":
        text = json.dumps({"v": value})
    elif encoding == "percent":
        text = "https://x/?q=" + urllib.parse.quote(value, safe="")
    else:
        prefix = b"x" * int(encoding[-1])
        text = base64.b64encode(prefix + value.encode() + b"tail").decode()
    scanner.scan_text("text", text)
    assert leaks(scanner), encoding


def test_values_learnt_after_the_run_are_still_checked() -> None:
    value = planted()
    scanner = LeakScanner([planted()])
    with scanner.capture():
        print(value)
    assert not leaks(scanner)
    scanner.add(value, label="generated")
    assert leaks(scanner)


def test_a_clean_run_passes_and_short_values_are_refused() -> None:
    scanner = LeakScanner([planted()])
    with scanner.capture():
        print("nothing to see")
        logging.getLogger("y").debug("still nothing")
    scanner.assert_clean()
    assert scanner.scanned_records >= 1
    with pytest.raises(ValueError):
        scanner.add("abc")
    with pytest.raises(AssertionError):
        LeakScanner().assert_clean()  # no values: proves nothing
