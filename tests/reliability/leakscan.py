"""A reusable leak scanner: no secret value in output, logs, warnings or exceptions.

Usage::

    scanner = LeakScanner(["known-value"])
    with scanner.capture():            # stdout, stderr, every log record at DEBUG,
        run_the_command()              # every warning ("always")
    scanner.add(read_back_value)       # generated values, learnt afterwards, still count
    scanner.scan_exception(caught)     # str, repr, notes, the whole chain
    scanner.scan_text("child stderr", completed.stderr)
    scanner.assert_clean()

Everything captured is kept and scanned at :meth:`assert_clean`, so values
learnt after the run (a generated secret read back as the sync identity)
are checked against output produced before they were known.

Each value is searched in the forms it could take on the way out: as is,
JSON-escaped, percent-encoded, and (for values of 12 characters or more) its
base64 body in each of the three alignments. A failure names where the hit
was and the *label* of the value, never the value.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import sys
import traceback
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_MIN_LENGTH = 6  # shorter "values" would match ordinary text and prove nothing


class _Tee(io.TextIOBase):
    """Writes to a buffer and to the stream it replaced (so pytest still sees output)."""

    def __init__(self, inner: object) -> None:
        self.buffer_text = io.StringIO()
        self.inner = inner

    def write(self, text: str) -> int:
        self.buffer_text.write(text)
        write = getattr(self.inner, "write", None)
        if write is not None:
            with contextlib.suppress(Exception):
                write(text)
        return len(text)

    def flush(self) -> None:
        flush = getattr(self.inner, "flush", None)
        if flush is not None:
            with contextlib.suppress(Exception):
                flush()

    def isatty(self) -> bool:
        return False


class _KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def exception_text(exc: BaseException) -> str:
    """str, repr, notes and the formatted chain (causes and contexts) of ``exc``."""
    parts = [str(exc), repr(exc), *getattr(exc, "__notes__", [])]
    parts += traceback.format_exception(exc)
    return "\n".join(str(p) for p in parts)


def record_text(record: logging.LogRecord) -> str:
    """Everything a log handler could write for ``record``."""
    parts = [str(record.msg)]
    try:
        parts.append(record.getMessage())
    except Exception:  # a bad format string is still scanned raw
        parts.append(repr(record.args))
    parts.append(repr(record.args))
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(exception_text(record.exc_info[1]))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def _forms(value: str) -> dict[str, str]:
    """The shapes ``value`` could take in output: {form: its kind}."""
    forms: dict[str, str] = {}
    raw = value.encode("utf-8")
    if len(raw) >= 12:
        for shift in range(3):
            # the value at each alignment inside a base64 stream: whole 3-byte
            # groups only, which do not depend on the neighbouring bytes
            whole = raw[shift:]
            whole = whole[: len(whole) // 3 * 3]
            body = base64.b64encode(whole).decode("ascii")
            if len(body) >= 8:
                forms[body] = f"base64+{shift}"
    forms[urllib.parse.quote_plus(value)] = "form-encoded"
    forms[urllib.parse.quote(value, safe="")] = "percent-encoded"
    forms[json.dumps(value)[1:-1]] = "json-escaped"
    forms[value] = "raw"
    return {f: kind for f, kind in forms.items() if len(f) >= _MIN_LENGTH}


@dataclass(frozen=True)
class Hit:
    where: str
    label: str
    form: str  # which encoding matched ("raw", "json", ...); never the value

    def __str__(self) -> str:
        return f"secret {self.label!r} found in {self.where} ({self.form})"


class LeakScanner:
    """Collects texts from a run and checks them against a set of secret values."""

    def __init__(self, values: Iterable[str] = (), *, label: str = "value") -> None:
        self._values: dict[str, str] = {}  # value -> label
        self._texts: list[tuple[str, str]] = []  # (where, text)
        self.scanned_records = 0
        self.scanned_warnings = 0
        self.add(*values, label=label)

    # -- values -------------------------------------------------------------------
    def add(self, *values: str, label: str = "value") -> None:
        """Register secret values (the label is what a failure shows)."""
        for index, value in enumerate(values):
            if not isinstance(value, str) or len(value) < _MIN_LENGTH:
                raise ValueError(
                    f"a secret value to scan for must be a string of at least {_MIN_LENGTH} "
                    f"characters ({label} #{index} is not)"
                )
            self._values.setdefault(value, f"{label}#{len(self._values)}")

    @property
    def value_count(self) -> int:
        return len(self._values)

    # -- texts --------------------------------------------------------------------
    def scan_text(self, where: str, text: str | bytes | None) -> None:
        if text is None:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self._texts.append((where, text))

    def scan_exception(self, exc: BaseException, where: str = "exception") -> None:
        self.scan_text(f"{where} {type(exc).__name__}", exception_text(exc))

    @contextlib.contextmanager
    def capture(self, where: str = "run") -> Iterator[LeakScanner]:
        """Capture stdout, stderr, log records (all loggers, DEBUG) and warnings.

        An exception escaping the block is scanned too, then re-raised.
        """
        keep = _KeepRecords()
        root = logging.getLogger()
        # Loggers that do not propagate would bypass a root handler.
        isolated = [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        levels = {
            name: logger.level
            for name, logger in logging.Logger.manager.loggerDict.items()
            if isinstance(logger, logging.Logger)
        }
        old_root_level = root.level
        out, err = _Tee(sys.stdout), _Tee(sys.stderr)
        old_disable = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        root.addHandler(keep)
        root.setLevel(logging.DEBUG)
        for logger in isolated:
            logger.addHandler(keep)
        for name in levels:
            logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            with (
                warnings.catch_warnings(record=True) as caught,
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                warnings.simplefilter("always")
                try:
                    yield self
                except BaseException as exc:
                    self.scan_exception(exc, f"{where}: escaped")
                    raise
        finally:
            root.removeHandler(keep)
            root.setLevel(old_root_level)
            for logger in isolated:
                logger.removeHandler(keep)
            for name, level in levels.items():
                logger = logging.Logger.manager.loggerDict.get(name)
                if isinstance(logger, logging.Logger):
                    logger.setLevel(level)
            logging.disable(old_disable)
            self.scan_text(f"{where}: stdout", out.buffer_text.getvalue())
            self.scan_text(f"{where}: stderr", err.buffer_text.getvalue())
            for record in keep.records:
                self.scan_text(f"{where}: log {record.name}:{record.lineno}", record_text(record))
            self.scanned_records += len(keep.records)
            for warning in caught:
                self.scan_text(
                    f"{where}: warning {warning.category.__name__}",
                    f"{warning.message}\n{warning.filename}:{warning.lineno}",
                )
            self.scanned_warnings += len(caught)

    # -- verdict ------------------------------------------------------------------
    def hits(self) -> list[Hit]:
        found = []
        for value, label in self._values.items():
            for form, kind in _forms(value).items():
                for where, text in self._texts:
                    if form in text:
                        found.append(Hit(where, label, kind))
        return sorted(set(found), key=lambda h: (h.where, h.label))

    @property
    def scanned_chars(self) -> int:
        return sum(len(text) for _, text in self._texts)

    def assert_clean(self) -> None:
        assert self._values, "the scanner has no secret values: it would prove nothing"
        hits = self.hits()
        assert not hits, "secret values leaked:\n" + "\n".join(str(h) for h in hits[:20])
