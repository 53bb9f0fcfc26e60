"""Org-limited grants checked against the orgs the manifests declare (offline).

An ``access`` entry with ``orgs`` names orgs whose secrets its principal may
read. An org no manifest declares is almost always a typo (the principal
would read nothing of it, silently), so ``validate`` and ``provision`` refuse
it, at the entry's own line, before anything is sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.yaml_source import Problem


def undeclared_orgs(env: Environment, scopes: Iterable[str]) -> list[Problem]:
    """A problem for each org of a grant that is not a declared manifest scope."""
    declared = {scope.lower() for scope in scopes}
    problems = []
    for index, grant in enumerate(env.access):
        for org in grant.orgs:
            if org in declared:
                continue
            close = difflib.get_close_matches(org, sorted(declared), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            position = _position(env, index, org)
            problems.append(
                Problem(
                    env.locate("access", index, "orgs", position),
                    f"access[{index}].orgs: no manifest declares the org {org!r}{hint} "
                    f"(declared: {', '.join(sorted(declared)) or 'none'})",
                )
            )
    return problems


def _position(env: Environment, index: int, org: str) -> int:
    """Where ``org`` is written in the entry's list (the grant keeps them sorted)."""
    if env.document is None:
        return 0
    entry = env.document.data["access"][index]
    written = [str(o).lower() for o in entry.get("orgs") or []]
    return written.index(org) if org in written else 0
