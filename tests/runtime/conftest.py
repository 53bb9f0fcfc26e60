"""Runtime test support: secret values that must never leak, a fake clock.

Every runtime test runs with the root logger at DEBUG and a handler that
keeps every record (including azure-core's and urllib3's). After the test,
no value made by ``secret_value`` may appear in any record's message,
arguments or exception text. Tests also pass the exceptions they provoke
to ``assert_no_leak``.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator

import pytest

_VALUES: set[str] = set()


def make_secret_value(label: str = "v") -> str:
    """A distinctive value registered as secret for the leak checks."""
    value = f"sv-{label}-{uuid.uuid4().hex}"
    _VALUES.add(value)
    return value


def leaked_in(text: str) -> list[str]:
    return [v for v in _VALUES if v in text]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def exception_text(exc: BaseException) -> str:
    """str, repr, notes and the whole formatted chain of ``exc``."""
    parts = [str(exc), repr(exc)]
    parts += traceback.format_exception(exc)
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def debug_log_capture() -> Iterator[_Keep]:
    keep = _Keep()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(keep)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(old_level)
    for record in keep.records:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += exception_text(record.exc_info[1])
        leaked = leaked_in(text)
        assert not leaked, f"a secret value leaked into log record {record.name}:{record.lineno}"


@pytest.fixture
def secret_value() -> Callable[[str], str]:
    return make_secret_value


@pytest.fixture
def assert_no_leak() -> Callable[[BaseException], None]:
    def check(exc: BaseException) -> None:
        assert not leaked_in(exception_text(exc)), "a secret value leaked into an exception"

    return check


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
