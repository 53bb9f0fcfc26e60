"""Value sources: where a manifest entry's value comes from (``value: {env: NAME}``).

Each source is one class, registered by subclassing :class:`ValueSource`
with the key manifests use for it, plus its schema fragment under
``$defs/valueSource/properties/<key>`` in ``secrets.schema.yaml``::

    @dataclass(frozen=True)
    class EnvironmentVariable(ValueSource, key="env"):
        name: str

        @classmethod
        def from_spec(cls, spec):        # the schema-valid YAML under its key
            return cls(str(spec))

        def resolve(self, context):      # a SecretValue (or Generator), or SourceProblem
            if self.name not in context.environ:
                raise SourceProblem(f"environment variable {self.name} is not set")
            return checked_value(context.environ[self.name])

        def __str__(self):               # how plans and errors name it; never the value
            return f"environment variable {self.name}"

A source never shows its value: :meth:`ValueSource.resolve` wraps it in a
:class:`SecretValue` (redacted ``repr``/``str``, not picklable), the
dataclass ``repr`` of a source holds names and paths only, and a
:class:`SourceProblem` message names the source, never its content.

:func:`schema_disagreements` lists where the schema and the registry
differ; :func:`keyvault_platform.sync.manifests.schema_validator` refuses to
run if they do, and a unit test keeps them equal.
"""

from __future__ import annotations

import abc
import secrets as random_source
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

from keyvault_platform.core.yaml_source import display_path

#: Key Vault's limit on a secret value ("25k bytes"), counted in UTF-8 bytes.
MAX_VALUE_BYTES = 25 * 1024

ALPHABETS: Mapping[str, str] = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "base64url": string.ascii_letters + string.digits + "-_",
    "digits": string.digits,
    # Printable ASCII without space, quotes and backslash: safe in shells,
    # connection strings and JSON without escaping.
    "printable": "".join(
        c for c in string.punctuation + string.ascii_letters + string.digits if c not in "\"'`\\"
    ),
}


class SecretValue:
    """A secret value that never shows itself by accident.

    ``repr``/``str``/``format`` print a placeholder; :meth:`reveal` returns
    the value for the one call that needs it (``set_secret``, fingerprint).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> Any:  # refuse pickling to disk or across processes
        raise TypeError("secret values are not picklable")


@dataclass(frozen=True)
class Generator:
    """How to generate a random value (length characters from an alphabet)."""

    length: int
    alphabet: str = "alphanumeric"

    def __post_init__(self) -> None:
        if self.length < 1 or self.alphabet not in ALPHABETS:
            raise ValueError(f"no such generator: {self.length} {self.alphabet} characters")

    def generate(self) -> SecretValue:
        chars = ALPHABETS[self.alphabet]
        return SecretValue("".join(random_source.choice(chars) for _ in range(self.length)))

    def __str__(self) -> str:
        return f"{self.length} {self.alphabet} characters"


class SourceProblem(Exception):
    """Why a source cannot give its value; the message names the source, never the value.

    The manifest loader reports it at the source's ``file:line:col``, with
    every other problem found.
    """


@dataclass(frozen=True)
class SourceContext:
    """What resolving a source may look at."""

    environ: Mapping[str, str]
    base: Path  # the manifest's directory: relative files are read from it, and stay in it
    sensitive: bool  # the entry's ``sensitive`` flag (true unless it says false)
    display_root: Path | None = None  # paths in messages are shown relative to it


class ValueSource(abc.ABC):
    """One way a manifest entry names its value; subclass with ``key=`` to register one.

    :param key: the key under ``value:`` in manifests, and the name of the
        source's fragment in the manifest schema.
    """

    key: ClassVar[str]
    #: Whether :meth:`resolve` reads nothing outside the manifest (no variable,
    #: no file), so a plan made without values may still resolve it.
    in_manifest: ClassVar[bool] = False

    def __init_subclass__(cls, *, key: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if key in _REGISTRY:
            raise ValueError(f"value source '{key}' is registered twice")
        cls.key = key
        _REGISTRY[key] = cls

    @classmethod
    @abc.abstractmethod
    def from_spec(cls, spec: Any) -> Self:
        """The source from the YAML under its key, which the schema has accepted."""

    @abc.abstractmethod
    def check(self, context: SourceContext) -> None:
        """What is wrong in the manifest itself, found without reading the value.

        Offline validation calls only this (the pipeline's variables and
        files are not there); :meth:`resolve` runs the same checks first.

        :raises SourceProblem: the reference cannot be right wherever it runs.
        """

    @abc.abstractmethod
    def resolve(self, context: SourceContext) -> SecretValue | Generator:
        """The value (or, for a value made at apply time, how to make it).

        :raises SourceProblem: the value cannot be had (missing, empty,
            too large, refused).
        """

    @abc.abstractmethod
    def __str__(self) -> str:
        """How plans and errors name the source (``value from <this>``); never the value."""


_REGISTRY: dict[str, type[ValueSource]] = {}


def registered_sources() -> Mapping[str, type[ValueSource]]:
    """Every value source by key (read-only)."""
    return MappingProxyType(_REGISTRY)


def schema_disagreements(schema: Mapping[str, Any]) -> list[str]:
    """Where the manifest schema's value sources and the registry differ; empty if nowhere."""
    part = schema.get("$defs", {}).get("valueSource", {})
    fragments = part.get("properties", {})
    found = [
        f"value source '{key}' is registered but has no fragment in the schema"
        for key in sorted(set(_REGISTRY) - set(fragments))
    ]
    found += [
        f"the schema allows value source '{key}', which is not registered"
        for key in sorted(set(fragments) - set(_REGISTRY))
    ]
    exactly_one = (part.get("minProperties"), part.get("maxProperties"), part.get("type"))
    if exactly_one != (1, 1, "object") or part.get("additionalProperties") is not False:
        found.append(
            "the schema's valueSource must be an object with exactly one property "
            "(minProperties and maxProperties 1) and no others (additionalProperties false)"
        )
    return found


def _not_utf8_at(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (a byte Python could not decode), if it does."""
    return next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)


def checked_value(text: str) -> SecretValue:
    """``text`` as a value Key Vault takes: not empty, at most :data:`MAX_VALUE_BYTES`."""
    if text == "":
        raise SourceProblem("the value is empty")
    # Python keeps bytes of the process environment that are not UTF-8 as
    # lone surrogates; encoding them would raise an error holding the value.
    bad_at = _not_utf8_at(text)
    if bad_at is not None:
        raise SourceProblem(
            f"the value is not valid UTF-8 text (at character {bad_at + 1:,}); "
            "Key Vault stores text: set it from UTF-8 (or base64-encode binary values)"
        )
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise SourceProblem(
            f"the value is {size:,} bytes; Key Vault allows at most {MAX_VALUE_BYTES:,}"
        )
    return SecretValue(text)


@dataclass(frozen=True)
class EnvironmentVariable(ValueSource, key="env"):
    """``env: NAME``: the value of an environment variable of the sync's process.

    Problems: the variable is not set; its value is empty or too large.
    """

    name: str

    @classmethod
    def from_spec(cls, spec: Any) -> Self:
        return cls(str(spec))

    def check(self, context: SourceContext) -> None:
        return None  # the schema has checked the name; only the pipeline has the value

    def resolve(self, context: SourceContext) -> SecretValue:
        if self.name not in context.environ:
            raise SourceProblem(f"environment variable {self.name} is not set")
        value = context.environ[self.name]
        if _not_utf8_at(value) is not None:
            raise SourceProblem(
                f"environment variable {self.name} is not valid UTF-8 text; set it from "
                "UTF-8 (or base64-encode a binary value)"
            )
        return checked_value(value)

    def __str__(self) -> str:
        return f"environment variable {self.name}"


@dataclass(frozen=True)
class ValueFile(ValueSource, key="file"):
    """``file: PATH``: a UTF-8 file's exact content, relative to the manifest.

    Problems: the path resolves outside the manifest's directory (symlinks
    included); the file is missing, a directory, unreadable, not UTF-8,
    empty or too large.
    """

    path: str

    @classmethod
    def from_spec(cls, spec: Any) -> Self:
        return cls(str(spec))

    def _located(self, context: SourceContext) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else context.base / path

    def check(self, context: SourceContext) -> None:
        # A manifest must not upload arbitrary files of the machine it runs on
        # (../../.ssh/id_rsa, /etc/...): value files live beside the manifests.
        # Symlinks are resolved first, so a link cannot smuggle a path out.
        if not self._located(context).resolve().is_relative_to(context.base.resolve()):
            raise SourceProblem(
                f"file {self.path} resolves outside the manifests' directory "
                f"{display_path(context.base, context.display_root)}; keep value files beside "
                "the manifests (for example secrets/values/) or use an env: source"
            )

    def resolve(self, context: SourceContext) -> SecretValue:
        self.check(context)
        path = self._located(context)
        shown = self.path if self.path == str(path) else f"{self.path} ({path})"
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise SourceProblem(f"file {shown} is a directory")
            if size > MAX_VALUE_BYTES:
                raise SourceProblem(
                    f"file {shown} is {size:,} bytes; Key Vault allows at most {MAX_VALUE_BYTES:,}"
                )
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SourceProblem(f"file {shown} not found") from None
        except PermissionError:
            raise SourceProblem(f"file {shown}: permission denied") from None
        except OSError as exc:
            raise SourceProblem(f"file {shown}: {exc.strerror or type(exc).__name__}") from None
        bad_at: int | None = None
        try:
            return checked_value(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad_at = exc.start  # only the offset leaves: exc holds the value's bytes
        raise SourceProblem(f"file {shown} is not UTF-8 text (byte offset {bad_at})")

    def __str__(self) -> str:
        return f"file {self.path}"


@dataclass(frozen=True)
class Generated(ValueSource, key="generate"):
    """``generate: {length, alphabet}``: a random value, made at apply time.

    Made when the secret is created, drifted or named with ``--rotate``;
    never read back. Reports no problems of its own (the schema bounds it).
    """

    generator: Generator
    in_manifest: ClassVar[bool] = True  # only how to make it; the value exists at apply

    @classmethod
    def from_spec(cls, spec: Any) -> Self:
        return cls(Generator(int(spec["length"]), str(spec.get("alphabet", "alphanumeric"))))

    def check(self, context: SourceContext) -> None:
        return None  # the schema bounds length and alphabet

    def resolve(self, context: SourceContext) -> Generator:
        return self.generator

    def __str__(self) -> str:
        return f"generated ({self.generator})"


@dataclass(frozen=True)
class LiteralValue(ValueSource, key="literal"):
    """``literal: TEXT``: the value written in the manifest, for what is not secret.

    Problems: the entry does not say ``sensitive: false``; the value is
    empty or too large.
    """

    value: SecretValue  # redacted in reprs, like any value, though it is not secret
    in_manifest: ClassVar[bool] = True

    @classmethod
    def from_spec(cls, spec: Any) -> Self:
        return cls(SecretValue(str(spec)))

    def check(self, context: SourceContext) -> None:
        if context.sensitive:
            others = sorted(k for k in _REGISTRY if k != self.key)
            listed = f"{', '.join(others[:-1])} or {others[-1]}"
            raise SourceProblem(
                "a literal value is refused unless the entry says 'sensitive: false'; "
                f"take secret values from {listed}"
            )
        checked_value(self.value.reveal())  # in the file: empty or too large is known now

    def resolve(self, context: SourceContext) -> SecretValue:
        self.check(context)
        return checked_value(self.value.reveal())

    def __str__(self) -> str:
        return "a literal (not sensitive)"
