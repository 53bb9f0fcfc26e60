"""The naming rule shared by the runtime and the sync tooling.

A secret belongs either to one organisation or to the whole platform:

* org-scoped: ``{org_id}--{name}``, for example ``contoso--db-password``;
* platform-wide: ``GLOBAL--{name}``, for example ``GLOBAL--smtp-password``.

Key Vault allows ``^[0-9a-zA-Z-]{1,127}$`` for a secret name and compares
names case-insensitively. On top of that this module requires:

* an org id matches ``^[0-9a-zA-Z-]+$``, contains no ``--``, does not start or
  end with ``-`` (``a-`` + ``--`` + ``b`` would read back as ``a`` and ``-b``),
  and is not ``GLOBAL`` in any letter case (reserved for the platform scope);
* a short name matches ``^[0-9a-zA-Z-]+$``;
* the full vault name is at most 127 characters.

For local development the same secret is read from an environment variable
``{ORG}__{KEY}`` (or ``GLOBAL__{KEY}``): upper case, ``-`` written as ``_``.
Underscores cannot occur in vault names, so the mapping is one-to-one up to
letter case, which Key Vault ignores anyway.

This module is pure: no I/O, no Azure imports, no global state. Every
function raises :class:`InvalidSecretNameError` (a :class:`ValueError`) with a
message naming the offending input and the rule it breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import InvalidSecretNameError

__all__ = [
    "ENV_SEPARATOR",
    "GLOBAL_SCOPE",
    "MAX_SECRET_NAME_LENGTH",
    "SEPARATOR",
    "InvalidSecretNameError",
    "SecretName",
    "env_var_name",
    "global_secret_name",
    "is_global_secret_name",
    "lookup_names",
    "org_secret_name",
    "parse_env_var_name",
    "parse_secret_name",
    "secret_name",
    "validate_org_id",
    "validate_short_name",
]

GLOBAL_SCOPE: Final = "GLOBAL"
"""The scope of platform-wide secrets; reserved (in any case) as an org id."""

SEPARATOR: Final = "--"
"""Separates the scope from the short name in a vault secret name."""

ENV_SEPARATOR: Final = "__"
"""Separates the scope from the key in an environment variable name."""

MAX_SECRET_NAME_LENGTH: Final = 127
"""Key Vault's limit on the length of a secret name."""

_ALLOWED = re.compile(r"[0-9a-zA-Z-]+")
_ENV_ALLOWED = re.compile(r"[0-9A-Z_]+")


@dataclass(frozen=True, slots=True)
class SecretName:
    """A validated secret name: its scope (an org id or ``GLOBAL``) and short name.

    Build one with :func:`secret_name`, :func:`parse_secret_name` or
    :func:`lookup_names`; the constructor does not validate.
    """

    scope: str
    """The org id, or :data:`GLOBAL_SCOPE` for a platform-wide secret."""
    name: str
    """The short name, such as ``db-password``."""

    @property
    def is_global(self) -> bool:
        """True for a platform-wide (``GLOBAL--``) secret."""
        return self.scope.upper() == GLOBAL_SCOPE

    @property
    def vault_name(self) -> str:
        """The name in Key Vault: ``{scope}--{name}``."""
        return f"{self.scope}{SEPARATOR}{self.name}"

    @property
    def env_var(self) -> str:
        """The environment variable for local development: ``{SCOPE}__{KEY}``."""
        return _to_env(self.scope) + ENV_SEPARATOR + _to_env(self.name)

    def __str__(self) -> str:
        return self.vault_name


def _to_env(part: str) -> str:
    return part.upper().replace("-", "_")


def validate_org_id(org: str) -> str:
    """Return ``org`` unchanged if it is a valid org id, else raise.

    >>> validate_org_id("contoso")
    'contoso'

    :raises InvalidSecretNameError: empty, bad characters, ``--`` inside, a
        leading or trailing ``-``, or ``GLOBAL`` in any case.
    """
    _check_characters("org id", org)
    if SEPARATOR in org:
        raise InvalidSecretNameError(
            f"org id {org!r} must not contain {SEPARATOR!r}: it separates the org id from the name"
        )
    if org.startswith("-") or org.endswith("-"):
        raise InvalidSecretNameError(f"org id {org!r} must not start or end with '-'")
    if org.upper() == GLOBAL_SCOPE:
        raise InvalidSecretNameError(
            f"org id {org!r} is reserved for platform-wide secrets; "
            "omit the org to read a GLOBAL secret"
        )
    return org


def validate_short_name(name: str) -> str:
    """Return ``name`` unchanged if it is a valid short secret name, else raise.

    :raises InvalidSecretNameError: empty or characters outside ``[0-9a-zA-Z-]``.
    """
    _check_characters("secret name", name)
    return name


def _check_characters(what: str, value: object) -> None:
    """``value`` is a non-empty str of ``[0-9a-zA-Z-]``, else raise naming ``what``."""
    if not isinstance(value, str):
        raise InvalidSecretNameError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidSecretNameError(f"{what} is empty")
    if not _ALLOWED.fullmatch(value):
        raise InvalidSecretNameError(
            f"{what} {value!r} may contain only letters, digits and '-' (pattern ^[0-9a-zA-Z-]+$)"
        )


def _checked(scope: str, name: str) -> SecretName:
    full = SecretName(scope, name)
    length = len(full.vault_name)
    if length > MAX_SECRET_NAME_LENGTH:
        raise InvalidSecretNameError(
            f"secret name {full.vault_name[:40]!r}... is {length} characters long; "
            f"Key Vault allows at most {MAX_SECRET_NAME_LENGTH} ({scope!r} + "
            f"{SEPARATOR!r} + name)"
        )
    return full


def secret_name(name: str, org: str | None = None) -> SecretName:
    """The validated name of secret ``name`` for ``org``, or the GLOBAL one without an org.

    >>> secret_name("db-password", "contoso").vault_name
    'contoso--db-password'
    >>> secret_name("db-password").vault_name
    'GLOBAL--db-password'
    """
    validate_short_name(name)
    if org is None:
        return _checked(GLOBAL_SCOPE, name)
    return _checked(validate_org_id(org), name)


def org_secret_name(org: str, name: str) -> str:
    """The vault name ``{org}--{name}``, validated."""
    return secret_name(name, org).vault_name


def global_secret_name(name: str) -> str:
    """The vault name ``GLOBAL--{name}``, validated."""
    return secret_name(name).vault_name


def lookup_names(name: str, org: str | None = None) -> tuple[SecretName, ...]:
    """The names to try, in order: the org's secret, then the GLOBAL one.

    Without an org only the GLOBAL name is tried. Both names are validated
    before anything is returned, so a bad input fails before any call.

    >>> [n.vault_name for n in lookup_names("smtp", "contoso")]
    ['contoso--smtp', 'GLOBAL--smtp']
    """
    global_name = secret_name(name)
    if org is None:
        return (global_name,)
    return (secret_name(name, org), global_name)


def parse_secret_name(vault_name: str) -> SecretName:
    """Split a vault secret name into scope and short name, validating both.

    A ``GLOBAL`` prefix in any letter case is the platform scope (Key Vault
    compares names case-insensitively) and is normalised to ``GLOBAL``.

    >>> parse_secret_name("contoso--db-password")
    SecretName(scope='contoso', name='db-password')

    :raises InvalidSecretNameError: no ``--``, or a part that breaks the rules.
    """
    if not isinstance(vault_name, str):
        raise InvalidSecretNameError(f"secret name must be a str, got {type(vault_name).__name__}")
    scope, sep, name = vault_name.partition(SEPARATOR)
    if not sep:
        raise InvalidSecretNameError(
            f"secret name {vault_name!r} has no {SEPARATOR!r}: expected "
            f"'{{org}}{SEPARATOR}{{name}}' or '{GLOBAL_SCOPE}{SEPARATOR}{{name}}'"
        )
    if scope.upper() == GLOBAL_SCOPE:
        return secret_name(name)
    return secret_name(name, scope)


def is_global_secret_name(vault_name: str) -> bool:
    """True if ``vault_name`` starts with ``GLOBAL--`` (any case). Does not validate."""
    return vault_name[: len(GLOBAL_SCOPE) + len(SEPARATOR)].upper() == GLOBAL_SCOPE + SEPARATOR


def env_var_name(name: str, org: str | None = None) -> str:
    """The environment variable that holds secret ``name`` for ``org`` locally.

    >>> env_var_name("db-password", "contoso")
    'CONTOSO__DB_PASSWORD'
    >>> env_var_name("db-password")
    'GLOBAL__DB_PASSWORD'
    """
    return secret_name(name, org).env_var


def parse_env_var_name(var: str) -> SecretName | None:
    """The secret an environment variable ``{SCOPE}__{KEY}`` stands for, or None.

    The inverse of :attr:`SecretName.env_var` up to letter case: the scope and
    key come back lower case (``GLOBAL`` stays upper case), ``_`` as ``-``.
    Variables that do not follow the pattern (``PATH``, ``HOME``...) give None.

    >>> parse_env_var_name("CONTOSO__DB_PASSWORD")
    SecretName(scope='contoso', name='db-password')
    """
    if not _ENV_ALLOWED.fullmatch(var):
        return None
    scope, sep, key = var.partition(ENV_SEPARATOR)
    if not sep or not scope or not key:
        return None
    org = None if scope == GLOBAL_SCOPE else scope.lower().replace("_", "-")
    try:
        return secret_name(key.lower().replace("_", "-"), org)
    except InvalidSecretNameError:
        return None
