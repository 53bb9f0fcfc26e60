"""Local development sources: environment variables, ``.env``, ``local.settings.json``.

Each holds keys named ``{ORG}__{KEY}`` / ``GLOBAL__{KEY}`` (see
:func:`orgsecrets.naming.env_var_name`). They are read in this order, the
first holding the key wins:

1. **environment variables** of the process: the most specific, set by the
   shell, CI or the Functions host;
2. **``.env``**: the developer's file (``KEY=value`` lines, ``export``,
   quotes and ``#`` comments as in docker compose / python-dotenv);
3. **``local.settings.json``**: its ``Values`` object, what ``func start``
   would put in the environment.

A missing file is skipped; a malformed one is a
:class:`~orgsecrets.errors.ConfigurationError` naming the file and line (never
the line's content, which may be a secret). Files are read once, on first use.

Files are decoded strictly: UTF-8 (with or without a BOM), or UTF-16 with a
BOM (what Windows PowerShell 5's ``>`` writes). Anything else (Latin-1,
UTF-16 without a BOM) is refused with the file and line of the first bad
byte. Decoding and parsing errors are raised outside the ``except`` block
that caught the codec's or JSON's own error: those keep the file's bytes
(``UnicodeDecodeError.object``, ``JSONDecodeError.doc``), so they must not
become the ``__context__`` of ours.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import ConfigurationError
from .naming import SecretName, parse_env_var_name

__all__ = [
    "DotenvSource",
    "EnvironmentSource",
    "LocalSettingsSource",
    "LocalSource",
    "LocalSources",
]


class LocalSource:
    """A mapping of ``{SCOPE}__{KEY}`` keys to values, with a description for errors."""

    description: str = "local source"

    def _values(self) -> Mapping[str, str]:
        raise NotImplementedError

    def lookup(self, name: SecretName) -> str | None:
        """The value of ``name`` here, or None."""
        return self._values().get(name.env_var)

    def names(self) -> Iterator[SecretName]:
        """Every secret this source holds (keys that follow the pattern)."""
        for var in self._values():
            parsed = parse_env_var_name(var)
            if parsed is not None:
                yield parsed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class EnvironmentSource(LocalSource):
    """The process environment (or any mapping given), read live."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.description = "environment variables"

    def _values(self) -> Mapping[str, str]:
        return self._environ


class _FileSource(LocalSource):
    kind = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"{self.kind} {self.path}"
        self._loaded: dict[str, str] | None = None

    def _values(self) -> Mapping[str, str]:
        if self._loaded is None:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                self._loaded = {}
                self.description = f"{self.kind} {self.path} (missing)"
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {self.path}: {exc.strerror or type(exc).__name__}"
                ) from None
            else:
                self._loaded = self._parse(decode_local_file(self.path, data))
        return self._loaded

    def _parse(self, text: str) -> dict[str, str]:
        raise NotImplementedError


_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
_SAVE_AS = "save it as UTF-8 (or UTF-16 with a byte order mark)"


def decode_local_file(path: Path, data: bytes) -> str:
    """The text of a local file: UTF-8 (BOM optional) or UTF-16 with a BOM, strictly.

    :raises ConfigurationError: naming ``path`` and the line of the first
        bad byte; it holds no byte of ``data`` and has no cause or context.
    """
    encoding, label = "utf-8", "UTF-8"
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            data, encoding, label = data[len(bom) :], codec, name
            break
    bad_at: int | None = None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad_at = exc.start  # only the offset leaves this block: exc holds the bytes
    if bad_at is not None:
        # The bytes before the first bad one decode: count the lines in them.
        line = data[:bad_at].decode(encoding).count("\n") + 1
        raise ConfigurationError(f"{path}:{line}: not valid {label}; {_SAVE_AS}")
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ConfigurationError(
            f"{path}:{line}: contains a NUL character (UTF-16 without a byte order mark?); "
            f"{_SAVE_AS}"
        )
    return text


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` and ``\\r\\n`` only.

    Not ``str.splitlines()``: it also splits on form feed, U+0085, U+2028 and
    others, which may be part of a value, and then numbers lines wrongly.
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


_BLANKS = " \t"
"""What is trimmed around lines, keys and unquoted values (not every Unicode space)."""

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class DotenvSource(_FileSource):
    """A ``.env`` file: ``KEY=value`` lines.

    Supported: blank lines, ``# comments``, an ``export`` prefix, values in
    single quotes (literal) or double quotes (``\\n``, ``\\t``, ``\\"``,
    ``\\\\`` escapes; may span lines), unquoted values with a `` #`` comment
    after them. Later lines override earlier ones.
    """

    kind = ".env"

    def _parse(self, text: str) -> dict[str, str]:
        values: dict[str, str] = {}
        lines = _lines(text)
        index = 0
        while index < len(lines):
            lineno = index + 1
            line = lines[index].strip(_BLANKS)
            index += 1
            if not line or line.startswith("#"):
                continue
            if line.startswith("export ") or line.startswith("export\t"):
                line = line[len("export") :].lstrip(_BLANKS)
            key, eq, rest = line.partition("=")
            key = key.strip(_BLANKS)
            if not eq or not key or not all(ch.isalnum() or ch in "_." for ch in key):
                raise ConfigurationError(
                    f"{self.path}:{lineno}: expected KEY=value (KEY made of letters, digits, '_')"
                )
            rest = rest.lstrip(_BLANKS)
            if rest[:1] in ("'", '"'):
                quote = rest[0]
                body = rest[1:]
                while not _closes(body, quote):
                    if index >= len(lines):
                        raise ConfigurationError(
                            f"{self.path}:{lineno}: the value of {key} opens a {quote} quote "
                            "that is never closed"
                        )
                    body += "\n" + lines[index]
                    index += 1
                end = _closing_index(body, quote)
                raw = body[:end]
                values[key] = _unescape(raw) if quote == '"' else raw
            else:
                comment = rest.find(" #")
                values[key] = (rest if comment < 0 else rest[:comment]).strip(_BLANKS)
        return values


def _closing_index(body: str, quote: str) -> int:
    escaped = False
    for i, ch in enumerate(body):
        if quote == '"' and ch == "\\" and not escaped:
            escaped = True
            continue
        if ch == quote and not escaped:
            return i
        escaped = False
    return -1


def _closes(body: str, quote: str) -> bool:
    return _closing_index(body, quote) >= 0


def _unescape(raw: str) -> str:
    out: list[str] = []
    chars = iter(raw)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(ch)
    return "".join(out)


class LocalSettingsSource(_FileSource):
    """Azure Functions' ``local.settings.json``: string entries of its ``Values`` object."""

    kind = "local.settings.json"

    def _parse(self, text: str) -> dict[str, str]:
        problem: str | None = None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.msg and position only: the message never quotes the document.
            problem = f"{self.path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})"
        if problem is not None:  # raised here: exc.doc (the document) must not be the context
            raise ConfigurationError(problem)
        if not isinstance(document, dict):
            raise ConfigurationError(f"{self.path}: expected a JSON object at the top")
        if document.get("IsEncrypted") is True:
            raise ConfigurationError(
                f"{self.path}: IsEncrypted is true; run `func settings decrypt` to read it locally"
            )
        raw = document.get("Values", {})
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{self.path}: 'Values' must be an object of strings")
        values: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                raise ConfigurationError(
                    f"{self.path}: Values.{key} must be a string, got {type(value).__name__}"
                )
            values[key] = value
        return values


class LocalSources:
    """The local sources in order; the first that holds a key wins."""

    def __init__(self, sources: list[LocalSource]) -> None:
        self.sources = tuple(sources)

    @classmethod
    def default(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        environment: bool = True,
        dotenv_path: str | os.PathLike[str] | None = ".env",
        local_settings_path: str | os.PathLike[str] | None = "local.settings.json",
    ) -> LocalSources:
        """Environment, then ``.env``, then ``local.settings.json``."""
        sources: list[LocalSource] = []
        if environment:
            sources.append(EnvironmentSource(environ))
        if dotenv_path is not None:
            sources.append(DotenvSource(dotenv_path))
        if local_settings_path is not None:
            sources.append(LocalSettingsSource(local_settings_path))
        return cls(sources)

    @property
    def descriptions(self) -> tuple[str, ...]:
        return tuple(s.description for s in self.sources)

    def lookup(self, name: SecretName) -> tuple[str, str] | None:
        """``(value, source description)`` of the first source holding ``name``, or None."""
        for source in self.sources:
            value = source.lookup(name)
            if value is not None:
                return value, source.description
        return None

    def names(self) -> list[SecretName]:
        """Every secret any local source holds, once each."""
        seen: dict[str, SecretName] = {}
        for source in self.sources:
            for name in source.names():
                seen.setdefault(name.vault_name.lower(), name)
        return list(seen.values())

    def describe(self, names: tuple[SecretName, ...]) -> str:
        """For errors: which keys were looked for where."""
        keys = ", ".join(n.env_var for n in names)
        return f"{' / '.join(self.descriptions) or 'no local source'} (keys {keys})"

    def __repr__(self) -> str:
        return f"LocalSources({list(self.descriptions)!r})"
