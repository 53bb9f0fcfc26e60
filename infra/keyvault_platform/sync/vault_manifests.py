"""Manifests written from what a vault holds: the first step of adopting it.

:func:`manifests_from_vault` (pure) turns one listing of a vault's secrets
(names, content types, tags, enabled, dates: never a value) into one
manifest per scope, ``GLOBAL.yaml`` and one file per org. Each value becomes
a source placeholder: the environment variable the local naming rule gives
(``{ORG}__{KEY}``, :func:`orgsecrets.naming.env_var_name`), or ``generate``
for the names the user says are generated. Secrets whose names do not follow
``{org}--{name}`` / ``GLOBAL--{name}``, and those backing certificates, are
set apart with the reason: no manifest can declare them.

With those variables set, ``sync --adopt`` right after plans only
adoptions: every value it reads equals its source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from orgsecrets import naming

from keyvault_platform.sync.manifests import DESCRIPTION_TAG, FINGERPRINT_TAG, OWNER_TAG
from keyvault_platform.sync.vault_state import ActualSecret

#: The first line of every written manifest: editors check it against the schema.
SCHEMA_LINE = "# yaml-language-server: $schema=../secrets.schema.yaml"

#: The generator written for ``--generate`` names. Adoption keeps the vault's
#: value; this only shapes the value ``--rotate`` makes later.
GENERATED_SOURCE: Mapping[str, Any] = {"generate": {"length": 32}}


@dataclass(frozen=True)
class Skipped:
    """A secret no manifest can declare, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class VaultManifests:
    """Manifest documents by file name, the variables they read, and what was set apart."""

    files: Mapping[str, str]
    variables: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    secrets: int


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(
    parsed: naming.SecretName, actual: ActualSecret, generated: bool
) -> tuple[dict[str, Any], str | None]:
    """One manifest entry, and the environment variable it reads (None: generated)."""
    entry: dict[str, Any] = {"name": parsed.name}
    tags = {k: v for k, v in actual.tags.items() if k not in (OWNER_TAG, FINGERPRINT_TAG)}
    description = tags.pop(DESCRIPTION_TAG, None)
    if description:
        entry["description"] = description
    variable = None if generated else parsed.env_var
    entry["value"] = dict(GENERATED_SOURCE) if variable is None else {"env": variable}
    if actual.content_type:
        entry["content_type"] = actual.content_type
    if not actual.enabled:
        entry["enabled"] = False
    if actual.not_before is not None:
        entry["not_before"] = _moment(actual.not_before)
    if actual.expires_on is not None:
        entry["expires"] = _moment(actual.expires_on)
    if tags:
        entry["tags"] = dict(sorted(tags.items()))
    return entry, variable


def _document(scope: str, entries: list[dict[str, Any]], vault: str) -> str:
    body = yaml.safe_dump(
        {"scope": scope, "secrets": entries},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return (
        f"{SCHEMA_LINE}\n"
        f"# Written by `keyvault-platform import` from {vault}: names and metadata only.\n"
        "# Set each env: variable to the secret's value (or change the source), then\n"
        "# adopt: keyvault-platform sync --adopt --plan\n"
        f"{body}"
    )


def manifests_from_vault(
    secrets: Iterable[ActualSecret], *, vault: str, generated: Iterable[str] = ()
) -> VaultManifests:
    """Manifests for ``secrets`` (as listed), grouped by scope. Pure.

    ``generated``: full vault names (any case) to declare as generated.
    """
    generate = {name.lower() for name in generated}
    by_scope: dict[str, list[dict[str, Any]]] = {}
    variables: list[str] = []
    skipped: list[Skipped] = []
    count = 0
    for actual in sorted(secrets, key=lambda s: s.name.lower()):
        if actual.managed:
            skipped.append(Skipped(actual.name, "backs a Key Vault certificate"))
            continue
        try:
            parsed = naming.parse_secret_name(actual.name)
        except naming.InvalidSecretNameError as exc:
            skipped.append(Skipped(actual.name, str(exc)))
            continue
        entry, variable = _entry(parsed, actual, actual.name.lower() in generate)
        by_scope.setdefault(parsed.scope, []).append(entry)
        if variable is not None:
            variables.append(variable)
        count += 1
    files = {
        f"{scope}.yaml": _document(scope, entries, vault)
        for scope, entries in sorted(by_scope.items())
    }
    return VaultManifests(files, tuple(variables), tuple(skipped), count)
