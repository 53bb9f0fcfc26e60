"""Secret manifests: load, validate and resolve them, all before any network call.

A manifest (``secrets/<scope>.yaml``) declares the secrets of one scope, an
org id or ``GLOBAL``. :func:`load_manifests` reads every manifest at once and
either returns a :class:`ManifestSet` of :class:`DesiredSecret` objects or
raises :class:`~keyvault_platform.core.yaml_source.InputError` with *every* problem found, each
with ``file:line:column``:

- YAML problems (syntax, duplicate keys, alias bombs, size, encoding), from
  :mod:`keyvault_platform.core.yaml_source`;
- schema violations against ``secrets.schema.yaml``, described without ever
  echoing the offending value (it might be a secret);
- naming rules, from :mod:`orgsecrets.naming` (the one place they live);
- case-insensitive collisions of full names across files;
- literal values on entries not marked ``sensitive: false``;
- tag counts including the tags the sync reserves, reserved tag names;
- not-before later than expiry;
- value sources that cannot give their value (environment variables and
  files that are missing, empty, unreadable, not UTF-8 or larger than a
  secret may be), listed together; the sources themselves, one class each,
  are in :mod:`keyvault_platform.sync.value_sources`.

Values are wrapped in :class:`SecretValue`, whose ``repr`` and ``str`` are
redacted, so a value cannot leak through logging, an exception or a test
failure message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from orgsecrets import naming

from keyvault_platform import schemas
from keyvault_platform.core.errors import InputError
from keyvault_platform.core.schema_errors import (
    field_path,
    json_compatible,
    schema_violations,
    with_strict_anchors,
)
from keyvault_platform.core.yaml_source import (
    Location,
    PathKey,
    Problem,
    SourceDocument,
    display_path,
    load_yaml_file,
    parse_yaml,
)
from keyvault_platform.sync.value_sources import (
    ALPHABETS,
    MAX_VALUE_BYTES,
    Generator,
    SecretValue,
    SourceContext,
    SourceProblem,
    ValueSource,
    registered_sources,
    schema_disagreements,
)

__all__ = [
    "ALPHABETS",
    "DESCRIPTION_TAG",
    "FINGERPRINT_TAG",
    "MAX_TAGS",
    "MAX_VALUE_BYTES",
    "OWNER_TAG",
    "OWNER_VALUE",
    "RESERVED_TAGS",
    "DesiredSecret",
    "Generator",
    "ManifestSet",
    "Moment",
    "SecretValue",
    "ValueSource",
    "load_manifests",
    "manifest_paths",
    "parse_moment",
    "schema_validator",
]

#: Tag marking a secret as owned by the sync (its value names the tool).
OWNER_TAG = "managed-by"
OWNER_VALUE = "keyvault-platform-sync"
#: Tag holding the keyed fingerprint of the current version's value.
FINGERPRINT_TAG = "value-fingerprint"
#: Tag holding the manifest entry's description.
DESCRIPTION_TAG = "description"
RESERVED_TAGS = (OWNER_TAG, FINGERPRINT_TAG, DESCRIPTION_TAG)
MAX_TAGS = 15

_DURATION_SHORT = re.compile(r"^(\d+)([mhdw])$")
_DURATION_ISO = re.compile(r"^P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?)$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Moment:
    """An expiry or not-before: a fixed instant, or a duration after the value was set.

    A duration is counted from the creation of the secret's current version,
    so a re-run computes the same instant and plans nothing. A new value
    (create, rotation, value change) restarts it.
    """

    text: str
    at: datetime | None = None
    after: timedelta | None = None

    def resolve(self, value_set_at: datetime) -> datetime:
        if self.at is not None:
            return self.at
        assert self.after is not None
        return (value_set_at + self.after).replace(microsecond=0)


def parse_moment(text: str) -> Moment | str:
    """A :class:`Moment`, or a message saying what is wrong with ``text``."""
    short = _DURATION_SHORT.match(text)
    if short:
        amount = int(short.group(1))
        if amount == 0:
            return "a duration must be longer than zero"
        return Moment(text, after=timedelta(**{_UNIT[short.group(2)]: amount}))
    if text.startswith("P"):
        iso = _DURATION_ISO.match(text)
        if not iso or not any(iso.groups()):
            return "not an ISO 8601 duration this tool reads (P2W, P90D, PT12H, P1DT12H)"
        weeks, days, hours, minutes = (int(g) if g else 0 for g in iso.groups())
        delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
        if not delta:
            return "a duration must be longer than zero"
        return Moment(text, after=delta)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return Moment(text, at=datetime(day.year, day.month, day.day, tzinfo=UTC))
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        return f"not a valid date or date-time ({exc})"
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return Moment(text, at=instant.astimezone(UTC).replace(microsecond=0))


@dataclass(frozen=True)
class DesiredSecret:
    """One secret as the manifests declare it.

    ``value`` is ``None`` for generated secrets: their value exists only in
    the vault, and is generated at apply time when (and only when) the
    secret is created, drifted, or named for rotation.
    """

    vault_name: str
    scope: str
    name: str
    location: Location
    source: ValueSource
    value: SecretValue | None = field(repr=False)
    generator: Generator | None
    content_type: str | None
    enabled: bool
    expires: Moment | None
    not_before: Moment | None
    tags: Mapping[str, str]  # user tags plus the description tag; not the sync's own
    sensitive: bool = True

    @property
    def shown_value(self) -> str | None:
        """The value a plan may show: a literal declared ``sensitive: false``; else None."""
        if self.sensitive or self.value is None or not self.source.in_manifest:
            return None
        return self.value.reveal()

    @property
    def address(self) -> str:
        return f"secret.{self.vault_name}"

    @property
    def generated(self) -> bool:
        return self.generator is not None


@dataclass(frozen=True)
class ManifestSet:
    """Everything the manifests declare, validated."""

    secrets: tuple[DesiredSecret, ...]
    scopes: frozenset[str]
    files: tuple[str, ...]

    def by_key(self) -> dict[str, DesiredSecret]:
        """Desired secrets keyed by lower-cased vault name (Key Vault ignores case)."""
        return {s.vault_name.lower(): s for s in self.secrets}


# --------------------------------------------------------------------------
# Loading


@lru_cache(maxsize=1)
def schema_validator() -> Draft202012Validator:
    """The validator for ``secrets.schema.yaml``.

    The schema is checked against the metaschema, and its value sources
    against the registry: a source the schema allows but nothing resolves
    (or the reverse) is a bug, refused before any manifest is read.
    """
    document = parse_yaml(schemas.schema_text(schemas.SECRETS), schemas.SECRETS)
    Draft202012Validator.check_schema(document.data)
    disagreements = schema_disagreements(document.data)
    if disagreements:
        raise RuntimeError(f"{schemas.SECRETS} and the value sources differ: {disagreements}")
    return Draft202012Validator(with_strict_anchors(document.data))


def manifest_paths(sources: Iterable[Path]) -> list[Path]:
    """Expand directories to their ``*.yaml``/``*.yml`` files, sorted; keep files as given."""
    result: list[Path] = []
    for source in sources:
        if source.is_dir():
            result.extend(
                sorted(p for p in source.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            )
        else:
            result.append(source)
    return result


def load_manifests(
    sources: Iterable[Path],
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    resolve_values: bool = True,
) -> ManifestSet:
    """Load and validate every manifest in ``sources`` (files or directories).

    Raises :class:`InputError` listing every problem in every file. Reads
    environment variables and files named as value sources; makes no
    network call. With ``resolve_values=False`` (offline validation and
    plans made without values, where the pipeline's values are absent)
    environment variables and value files are checked as written but not
    read: a missing variable or value file is not a problem, a file
    reference leaving the manifests' directory still is. Sources held in
    the manifest itself (``literal``, ``generate``) resolve either way.
    """
    environ = os.environ if environ is None else environ
    now = now or datetime.now(UTC)
    sources = list(sources)
    paths = manifest_paths(sources)
    problems: list[Problem] = []
    if not paths:
        shown = ", ".join(display_path(s, root) for s in sources) or "(nothing)"
        raise InputError([Problem(Location(shown), "no manifests (*.yaml) found")])
    validator = schema_validator()
    declared: list[DesiredSecret] = []
    files: list[str] = []
    scopes: set[str] = set()
    for path in paths:
        try:
            document = load_yaml_file(path, root=root)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        files.append(document.path)
        checker = _ManifestChecker(
            document, path.parent, environ, now, root=root, resolve_values=resolve_values
        )
        declared.extend(checker.check(validator))
        problems.extend(checker.problems)
        if checker.scope is not None:
            scopes.add(checker.scope)
    problems.extend(_collisions(declared))
    if problems:
        raise InputError(problems)
    return ManifestSet(
        secrets=tuple(sorted(declared, key=lambda s: s.vault_name.lower())),
        scopes=frozenset(scopes),
        files=tuple(files),
    )


def _collisions(declared: list[DesiredSecret]) -> list[Problem]:
    problems = []
    first: dict[str, DesiredSecret] = {}
    for secret in sorted(declared, key=lambda s: s.location):
        key = secret.vault_name.lower()
        if key in first:
            other = first[key]
            same = other.vault_name == secret.vault_name
            what = "declared twice" if same else "collides with"
            problems.append(
                Problem(
                    secret.location,
                    f"secret '{secret.vault_name}' {what}"
                    + ("" if same else f" '{other.vault_name}'")
                    + f" (first at {other.location}); Key Vault names ignore letter case",
                )
            )
        else:
            first[key] = secret
    return problems


class _ManifestChecker:
    """Checks one parsed manifest and builds its desired secrets."""

    def __init__(
        self,
        document: SourceDocument,
        base: Path,
        environ: Mapping[str, str],
        now: datetime,
        *,
        root: Path | None = None,
        resolve_values: bool = True,
    ) -> None:
        self.document = document
        self.base = base
        self.root = root  # paths in messages are shown relative to it
        self.resolve_values = resolve_values
        self.environ = environ
        self.now = now
        self.problems: list[Problem] = []
        self.scope: str | None = None  # the manifest's scope, once found valid
        self.schema_paths: set[PathKey] = set()  # values the schema already refused

    def problem(self, path: PathKey, message: str) -> None:
        self.problems.append(Problem(self.document.locate(path), f"{field_path(path)}: {message}"))

    def check(self, validator: Draft202012Validator) -> list[DesiredSecret]:
        if self.document.data is None:
            self.problems.append(
                Problem(self.document.locate(()), "empty manifest; expected 'scope' and 'secrets'")
            )
            return []
        self.document.data = json_compatible(self.document.data)
        violations = schema_violations(self.document, validator)
        self.schema_paths = {v.path for v in violations}
        if violations:
            self.problems.extend(v.problem for v in violations)
            # Carry on with what the schema accepted, so that naming and value
            # source problems are reported in the same run.
        data = self.document.data
        if not isinstance(data, dict):
            return []
        scope = data.get("scope")
        scope_ok = isinstance(scope, str) and self._check_scope(scope)
        if scope_ok:
            self.scope = scope
        result = []
        entries = data.get("secrets")
        if not isinstance(entries, list):
            return []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            secret = self._check_entry(scope if scope_ok else None, index, entry)
            if secret is not None:
                result.append(secret)
        return result

    def _check_scope(self, scope: str) -> bool:
        if not re.fullmatch(r"[0-9a-zA-Z-]+", scope):
            return False  # the schema already said so
        if scope == naming.GLOBAL_SCOPE:
            return True
        if scope.upper() == naming.GLOBAL_SCOPE:
            self.problem(
                ("scope",),
                f"'{scope}' is reserved in any letter case; write {naming.GLOBAL_SCOPE} "
                "for platform-wide secrets",
            )
            return False
        try:
            naming.validate_org_id(scope)
        except naming.InvalidSecretNameError as exc:
            self.problem(("scope",), str(exc))
            return False
        return True

    def _check_entry(
        self, scope: str | None, index: int, entry: dict[str, Any]
    ) -> DesiredSecret | None:
        at: PathKey = ("secrets", index)
        before = len(self.problems)
        name = entry.get("name")
        vault_name = None
        if isinstance(name, str) and re.fullmatch(r"[0-9a-zA-Z-]+", name):
            try:
                if scope is None:
                    naming.validate_short_name(name)
                else:
                    org = None if scope == naming.GLOBAL_SCOPE else scope
                    vault_name = naming.secret_name(name, org).vault_name
            except naming.InvalidSecretNameError as exc:
                self.problem((*at, "name"), str(exc))
        sensitive = entry.get("sensitive", True) is not False
        tags = self._check_tags(at, entry)
        expires = self._moment(at, entry, "expires")
        not_before = self._moment(at, entry, "not_before")
        if isinstance(expires, Moment) and isinstance(not_before, Moment):
            end = expires.resolve(self.now)
            start = not_before.resolve(self.now)
            if start >= end:
                self.problem(
                    (*at, "not_before"),
                    f"not_before ({not_before.text}) must be earlier than expires ({expires.text})",
                )
        source, value, generator = self._check_value(at, entry, sensitive)
        if len(self.problems) > before or vault_name is None or source is None or scope is None:
            return None
        content_type = entry.get("content_type")
        return DesiredSecret(
            vault_name=vault_name,
            scope=scope,
            name=str(name),
            location=self.document.locate(at),
            source=source,
            value=value,
            generator=generator,
            content_type=content_type if isinstance(content_type, str) else None,
            enabled=entry.get("enabled", True) is not False,
            expires=expires if isinstance(expires, Moment) else None,
            not_before=not_before if isinstance(not_before, Moment) else None,
            tags=tags,
            sensitive=sensitive,
        )

    def _check_tags(self, at: PathKey, entry: dict[str, Any]) -> dict[str, str]:
        raw = entry.get("tags") or {}
        if not isinstance(raw, dict):
            return {}
        tags = {str(k): v for k, v in raw.items() if isinstance(v, str)}
        reserved = {t.lower() for t in RESERVED_TAGS}
        for key in tags:
            if key.lower() in reserved:
                self.problem(
                    (*at, "tags", key),
                    f"tag '{key}' is reserved for the sync"
                    + (
                        " (use the entry's 'description' field)"
                        if key.lower() == "description"
                        else ""
                    ),
                )
        lowered: dict[str, str] = {}
        for key in tags:
            if key.lower() in lowered:
                self.problem(
                    (*at, "tags", key),
                    f"tag '{key}' differs from tag '{lowered[key.lower()]}' only in letter case",
                )
            lowered[key.lower()] = key
        description = entry.get("description")
        if isinstance(description, str):
            tags[DESCRIPTION_TAG] = description
        # The sync adds its owner and fingerprint tags to every secret it writes.
        total = len(tags) + 2
        if len(raw) <= MAX_TAGS and total > MAX_TAGS:
            own = ", ".join(f"'{t}'" for t in RESERVED_TAGS if t in tags or t != DESCRIPTION_TAG)
            self.problem(
                (*at, "tags"),
                f"{total} tags with the ones the sync adds ({own}); Key Vault allows "
                f"at most {MAX_TAGS}, so declare at most {MAX_TAGS - (total - len(raw))}",
            )
        return tags

    def _moment(self, at: PathKey, entry: dict[str, Any], key: str) -> Moment | None:
        text = entry.get(key)
        if not isinstance(text, str) or (*at, key) in self.schema_paths:
            return None
        moment = parse_moment(text)
        if isinstance(moment, str):
            self.problem((*at, key), moment)
            return None
        return moment

    def _check_value(
        self, at: PathKey, entry: dict[str, Any], sensitive: bool
    ) -> tuple[ValueSource | None, SecretValue | None, Generator | None]:
        spec = entry.get("value")
        if not isinstance(spec, dict) or len(spec) != 1:
            return None, None, None  # reported by the schema
        key, raw = next(iter(spec.items()))
        source_type = registered_sources().get(key)
        if source_type is None:
            if (*at, "value") in self.schema_paths:
                return None, None, None  # "unknown field", from the schema
            raise LookupError(f"value source '{key}' passed the schema but is not registered")
        where: PathKey = (*at, "value", key)
        if any(path[: len(where)] == where for path in self.schema_paths):
            return None, None, None  # the schema refused the source's own settings
        source = source_type.from_spec(raw)
        context = SourceContext(self.environ, self.base, sensitive, display_root=self.root)
        try:
            if not self.resolve_values and not source.in_manifest:
                source.check(context)  # offline: the manifest as written, no value read
                return source, None, None
            resolved = source.resolve(context)
        except SourceProblem as exc:
            self.problem(where, str(exc))
            return None, None, None
        if isinstance(resolved, Generator):
            return source, None, resolved
        return source, resolved, None
