"""ABAC conditions that limit a reader to some orgs' secrets in a shared vault.

An access entry with ``orgs`` becomes one vault-scope assignment whose
condition (Azure ABAC, version 2.0) allows the value read,
``Microsoft.KeyVault/vaults/secrets/getSecret/action``, only on secret names
that start with ``{org}--`` for one of its orgs, or ``GLOBAL--``. Every other
action of the role stays as the role grants it: a listing names no secret,
so a condition on the name would refuse it, and names are therefore visible
to every reader (keep sensitive data out of names, as Microsoft warns).

Key Vault compares secret names without regard to case, so the prefixes are
compared with ``StringStartsWithIgnoreCase``: ``Contoso--x`` is contoso's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orgsecrets import naming

CONDITION_VERSION = "2.0"
GET_SECRET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
SECRET_NAME = "@Resource[Microsoft.KeyVault/vaults/secrets:name]"


def org_read_condition(orgs: Iterable[str]) -> str:
    """The condition that allows reading only ``orgs``' and GLOBAL secrets (stable text)."""
    prefixes = [f"{org.lower()}{naming.SEPARATOR}" for org in sorted(set(orgs))]
    prefixes.append(f"{naming.GLOBAL_SCOPE}{naming.SEPARATOR}")
    tests = " OR ".join(f"{SECRET_NAME} StringStartsWithIgnoreCase '{p}'" for p in prefixes)
    return f"((!(ActionMatches{{'{GET_SECRET}'}})) OR ({tests}))"


def same_condition(a: str | None, b: str | None) -> bool:
    """Whether two conditions are the same text, up to whitespace (Azure keeps it as sent)."""
    return _normal(a) == _normal(b)


def _normal(condition: str | None) -> str:
    return re.sub(r"\s+", " ", condition or "").strip()
