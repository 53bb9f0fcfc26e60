"""``--target ADDRESS``: plan and apply a subset of a plan, as Terraform's ``-target``.

An address is what a plan prints for a resource, ``<type>.<name>``:

- ``secret.<vault name>`` (``secret.GLOBAL--db-password``, ``secret.contoso--api-key``);
- ``resource_group.<name>``, ``vault.<name>`` and ``vault_settings.<name>``
  (the update that follows a recovered vault's recover);
- ``role_assignment.<grant name>``, and ``role_assignment.undeclared-<name>``
  for an undeclared assignment a prune would remove.

Addresses compare ignoring letter case (Key Vault names do). Every target
must be an address the plan knows (a declared resource, or one read from
Azure), else the command stops before anything is written, with the nearest
addresses as suggestions. A targeted plan holds only the targeted changes;
a diagnostic about another address is dropped, one about no address is kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from keyvault_platform.core.errors import InputError
from keyvault_platform.core.plan import Plan
from keyvault_platform.core.problems import Location, Problem

#: Where a problem with a target is reported.
TARGET_OPTION = "--target"


def resolve_targets(targets: Sequence[str], known: Iterable[str]) -> frozenset[str]:
    """The known addresses ``targets`` name (as the plan spells them).

    :raises InputError: a target names no known address (with near matches).
    """
    by_key = {address.lower(): address for address in known}
    problems: list[Problem] = []
    chosen: set[str] = set()
    for target in targets:
        found = by_key.get(target.strip().lower())
        if found is not None:
            chosen.add(found)
            continue
        near = _nearest(target.strip().lower(), list(by_key))
        message = f"'{target}' is not an address in this plan"
        if near:
            message += "; did you mean " + " or ".join(f"'{by_key[n]}'" for n in near) + "?"
        elif "." not in target:
            message += " (addresses look like secret.GLOBAL--db-password, vault.<name>, "
            message += "role_assignment.<grant>)"
        problems.append(Problem(Location(TARGET_OPTION), message))
    if problems:
        raise InputError(problems)
    return frozenset(chosen)


def _nearest(target: str, known: list[str]) -> list[str]:
    """Up to three known addresses as close to ``target`` as the closest (shared prefixes
    make every address of a scope look alike, so only the best few are kept)."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, target, k).ratio(), k) for k in known), reverse=True
    )
    if not scored or scored[0][0] < 0.6:
        return []
    best = scored[0][0]
    return [k for score, k in scored[:3] if score >= best - 0.05]


def select(plan: Plan, targets: frozenset[str] | None) -> Plan:
    """Only the targeted changes (all of them when ``targets`` is None)."""
    if targets is None:
        return plan
    return Plan(
        tuple(c for c in plan.changes if c.address in targets),
        tuple(d for d in plan.diagnostics if d.address is None or d.address in targets),
    )


__all__ = ["TARGET_OPTION", "resolve_targets", "select"]
