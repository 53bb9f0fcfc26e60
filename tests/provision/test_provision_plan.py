"""The whole provisioning plan from observed state (pure): golden files, the group rules."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
from keyvault_platform import provision
from keyvault_platform.core.messages import render_json
from keyvault_platform.core.plan import ABSENT, Action, Diagnostic, detailed_exit_code
from keyvault_platform.core.views import render_text
from keyvault_platform.provision import permissions as rights
from keyvault_platform.provision import planner
from keyvault_platform.provision.vault import DIFFERS

from .provision_helpers import (
    APP,
    ENV_TEXT,
    OUTSIDER,
    ROLES,
    SYNC,
    assignment,
    deleted_state,
    environment,
    vault_state,
)

GOLDEN = Path(__file__).parent / "golden"


def observed(**overrides) -> provision.Observed:
    base = provision.Observed(
        resource_group=None,
        vault=None,
        deleted_vault=None,
        name_available=True,
        roles=dict(ROLES),
    )
    return replace(base, **overrides)


def converged() -> provision.Observed:
    return observed(
        resource_group=provision.ResourceGroupState("rg-unit", "westeurope", {"env": "unit"}),
        vault=vault_state(),
        assignments=(
            assignment(APP, "key vault secrets user"),
            assignment(SYNC, "key vault secrets officer"),
        ),
    )


@pytest.fixture
def env(tmp_path: Path):
    # A stable display path, so golden files do not depend on tmp_path.
    return replace(environment(tmp_path), path=Path("infra/environments/unit.yaml"))


def test_fresh_plan_golden(env) -> None:
    planned = provision.build_plan(env, observed())
    assert [c.action for c in planned.plan.pending] == [Action.CREATE] * 4
    assert render_text(planned.plan) == (GOLDEN / "fresh.txt").read_text()
    assert render_json(planned.plan) == (GOLDEN / "fresh.jsonl").read_text()


def test_json_plan_shape_is_stable(env) -> None:
    """The documented JSON contract (docs/provisioning.md): keys and types."""
    lines = [
        json.loads(line)
        for line in render_json(provision.build_plan(env, observed()).plan).splitlines()
    ]
    assert lines[0] == {
        "@level": "info",
        "@message": "keyvault-platform (ui 1.1)",
        "type": "version",
        "tool": "keyvault-platform",
        "ui": "1.1",
    }
    for line in lines[1:-1]:
        assert set(line) == {"@level", "@message", "type", "change"}
        assert set(line["change"]) == {
            "resource", "action", "reason", "drift", "compared_at_apply", "fields", "notes"
        }
        assert set(line["change"]["resource"]) == {"addr", "resource_type", "resource_name"}
        for field in line["change"]["fields"]:
            assert set(field) == {
                "name",
                "sensitive",
                "before",
                "after",
                "before_absent",
                "after_absent",
            }
    assert set(lines[-1]) == {"@level", "@message", "type", "changes"}
    assert set(lines[-1]["changes"]) == {"add", "change", "remove", "recover", "operation"}


def test_converged_state_plans_nothing(env) -> None:
    planned = provision.build_plan(env, converged())
    assert not planned.plan.has_changes and not planned.plan.diagnostics
    assert render_text(planned.plan).startswith("No changes.")
    assert detailed_exit_code(planned.plan, applied=False) == 0


def test_drift_plan(env) -> None:
    drifted = replace(
        converged(),
        vault=vault_state(properties={"publicNetworkAccess": "Disabled"}),
        assignments=(assignment(APP, "key vault secrets user"),),
    )
    planned = provision.build_plan(env, drifted)
    pending = {c.address: c.action for c in planned.plan.pending}
    assert pending == {
        "vault.kv-unit": Action.UPDATE,
        "role_assignment.sync-writes": Action.CREATE,
    }
    assert planned.vault.changed_fields == ("public_network_access",)
    assert detailed_exit_code(planned.plan, applied=False) == 2


def test_recovery_recreates_every_assignment(env) -> None:
    planned = provision.build_plan(
        env, observed(resource_group=converged().resource_group, deleted_vault=deleted_state())
    )
    pending = {c.address: c.action for c in planned.plan.pending}
    assert pending["vault.kv-unit"] is Action.RECOVER
    assert pending["role_assignment.app-reads"] is Action.CREATE
    assert pending["role_assignment.sync-writes"] is Action.CREATE
    text = render_text(planned.plan)
    assert "Plan: 1 to recover, 2 to add, 0 to change, 0 to destroy." in text
    assert "scheduled for purge 2027-01-30" in text


def test_recover_and_the_update_after_it_are_both_in_the_plan(env) -> None:
    planned = provision.build_plan(
        env,
        observed(
            resource_group=converged().resource_group,
            deleted_vault=deleted_state(tags={"env": "old"}),
        ),
    )
    pending = {c.address: c.action for c in planned.plan.pending}
    assert pending["vault.kv-unit"] is Action.RECOVER
    assert pending["vault_settings.kv-unit"] is Action.UPDATE
    text = render_text(planned.plan)
    assert "# vault_settings.kv-unit will be updated in place" in text
    assert '~ tags: {"env": "old"} -> {"env": "unit"}' in text
    assert "Plan: 1 to recover, 2 to add, 1 to change, 0 to destroy." in text


def test_refusals_point_at_the_file(tmp_path: Path) -> None:
    text = ENV_TEXT.replace("  on_soft_deleted: recover", "  purge_protection: false")
    env = environment(tmp_path, text)
    planned = provision.build_plan(env, converged())
    (error,) = planned.plan.errors
    assert "purge protection cannot be turned off" in error.summary
    assert "unit.yaml:8:21" in error.summary
    assert detailed_exit_code(planned.plan, applied=False) == 1


def test_missing_group_without_create_and_unknown_role(env) -> None:
    env = replace(env, resource_group=replace(env.resource_group, create=False))
    planned = provision.build_plan(
        env,
        observed(
            roles={"key vault secrets user": ROLES["key vault secrets user"]},
            unknown_roles=("Key Vault Secrets Officer",),
        ),
    )
    summaries = [e.summary for e in planned.plan.errors]
    assert any("does not exist" in s for s in summaries)
    assert any("unknown role 'Key Vault Secrets Officer'" in s for s in summaries)


def test_undeclared_assignment_is_shown_not_removed(env) -> None:
    state = replace(
        converged(),
        assignments=(*converged().assignments, assignment(OUTSIDER, "reader", name="abc")),
        role_names={"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader"},
    )
    planned = provision.build_plan(env, state)
    assert not planned.plan.has_changes
    (warning,) = planned.plan.warnings
    assert "Reader for principal" in (warning.detail or "")
    pruned = provision.build_plan(env, state, prune=True)
    assert [c.action for c in pruned.plan.pending] == [Action.DELETE]
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in render_text(pruned.plan)


# --------------------------------------------------------------------------
# The resource group's rules, row by row

ELSEWHERE = provision.ResourceGroupState("rg-unit", "northeurope", {"env": "old", "by": "others"})


def group_examples() -> dict[tuple[bool, bool], provision.ResourceGroupState | None]:
    """For each (exists, create) the group observed; the one that exists differs in every way."""
    return {
        (False, True): None,
        (False, False): None,
        (True, True): ELSEWHERE,
        (True, False): ELSEWHERE,
    }


@pytest.mark.parametrize(
    "rule",
    planner.GROUP_RULES,
    ids=lambda r: f"{'exists' if r.exists else 'absent'}-{'create' if r.create else 'no-create'}",
)
def test_group_rule_example_is_planned_as_the_row_says(env, rule: planner.GroupRule) -> None:
    env = replace(env, resource_group=replace(env.resource_group, create=rule.create))
    actual = group_examples()[(rule.exists, rule.create)]
    assert planner.group_rule(actual is not None, env.resource_group.create) is rule
    group = planner.plan_resource_group(env, observed(resource_group=actual))
    assert group.change.address == "resource_group.rg-unit"
    assert group.change.action is rule.action
    errors = [d for d in group.diagnostics if d.severity == "error"]
    if rule.refusal is not None:
        (error,) = errors
        at = str(env.locate("resource_group", "name"))
        assert at.endswith("unit.yaml:4:24")
        assert error.summary == f"resource group 'rg-unit' does not exist (set at {at})"
        assert error.detail == (
            "Create it, ask for it to be created, or set resource_group.create: true "
            "(which needs rights on the subscription)."
        )
    else:
        assert errors == []
    fields = {f.name: (f.old, f.new) for f in group.change.fields}
    if rule.action is Action.CREATE:
        assert fields == {"location": (ABSENT, "westeurope"), "tags": (ABSENT, {"env": "unit"})}
    elif rule.action is Action.UPDATE:
        # Declared tags corrected, others' kept; the location is left as is.
        merged = {"env": "unit", "by": "others"}
        assert fields == {"tags": ({"env": "old", "by": "others"}, merged)}
        assert group.change.reason == DIFFERS
    else:
        assert fields == {}
    if rule.exists:
        (warning,) = [d for d in group.diagnostics if d.severity == "warning"]
        assert warning.summary == (
            "resource group 'rg-unit' is in northeurope, the file says westeurope; "
            "a resource group cannot move, so this is left as is"
        )


def test_a_managed_group_with_the_declared_tags_is_left_as_is(env) -> None:
    others = provision.ResourceGroupState("rg-unit", "westeurope", {"env": "unit", "by": "x"})
    group = planner.plan_resource_group(env, observed(resource_group=others))
    assert group.change.action is Action.NO_OP and group.diagnostics == ()


def test_exactly_one_group_rule_applies_to_every_group() -> None:
    for exists, create in itertools.product((False, True), repeat=2):
        assert sum((r.exists, r.create) == (exists, create) for r in planner.GROUP_RULES) == 1
        planner.group_rule(exists, create)  # does not raise
    assert set(group_examples()) == {(r.exists, r.create) for r in planner.GROUP_RULES}


def test_the_planner_docstring_shows_the_group_rules_as_they_are() -> None:
    assert planner.__doc__ is not None
    table = planner.render_group_rules()
    assert table in planner.__doc__, f"paste render_group_rules() into the docstring:\n{table}"


def test_diagnostics_come_group_vault_notes_roles_assignments_permissions(env) -> None:
    env = replace(env, resource_group=replace(env.resource_group, create=False))
    note = Diagnostic("warning", "could not read the deleted vaults", None, "vault.kv-unit")
    planned = provision.build_plan(
        env,
        observed(
            resource_group=ELSEWHERE,
            vault=vault_state(location="northeurope"),
            roles={"key vault secrets user": ROLES["key vault secrets user"]},
            unknown_roles=("Key Vault Secrets Officer",),
            assignments=(assignment(OUTSIDER, "reader", name="abc"),),
            role_names={"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader"},
            notes=(note,),
            permissions=rights.Permissions("resource group rg-unit", ()),
        ),
    )
    assert [
        (d.severity, d.address, d.summary.split(" ")[:3]) for d in planned.plan.diagnostics
    ] == [
        ("warning", "resource_group.rg-unit", ["resource", "group", "'rg-unit'"]),
        ("error", "vault.kv-unit", ["the", "vault", "is"]),
        ("warning", "vault.kv-unit", ["could", "not", "read"]),
        ("error", "role_assignment.sync-writes", ["unknown", "role", "'Key"]),
        ("warning", "role_assignment.undeclared-abc", ["drift:", "a", "role"]),
        ("error", "vault.kv-unit", ["the", "deploying", "identity"]),
        ("error", "role_assignment.app-reads", ["the", "deploying", "identity"]),
    ]
