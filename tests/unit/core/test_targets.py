"""``--target``: resolving addresses and selecting a plan's subset (pure)."""

from __future__ import annotations

import pytest
from keyvault_platform.core.errors import InputError
from keyvault_platform.core.plan import Action, Change, Diagnostic, Plan
from keyvault_platform.core.targets import resolve_targets, select

KNOWN = ["secret.GLOBAL--db-password", "secret.GLOBAL--smtp-password", "vault.kv-prod"]


def test_targets_match_ignoring_case_and_return_the_plans_spelling() -> None:
    assert resolve_targets(["SECRET.global--DB-password"], KNOWN) == {"secret.GLOBAL--db-password"}


def test_an_unknown_target_names_the_closest_addresses() -> None:
    with pytest.raises(InputError) as caught:
        resolve_targets(["secret.GLOBAL--db-pasword", "nothing"], KNOWN)
    second, first = (p.message for p in caught.value.problems)  # sorted by message
    assert {p.location.file for p in caught.value.problems} == {"--target"}
    assert "did you mean 'secret.GLOBAL--db-password'?" in first
    assert "smtp" not in first
    assert "'nothing' is not an address in this plan (addresses look like" in second


def test_select_keeps_the_targeted_changes_and_general_diagnostics() -> None:
    plan = Plan(
        (Change("secret.a--x", Action.CREATE), Change("secret.a--y", Action.DELETE)),
        (
            Diagnostic("warning", "about y", address="secret.a--y"),
            Diagnostic("warning", "general"),
        ),
    )
    chosen = select(plan, frozenset({"secret.a--x"}))
    assert [c.address for c in chosen.changes] == ["secret.a--x"]
    assert [d.summary for d in chosen.diagnostics] == ["general"]
    assert select(plan, None) is plan
