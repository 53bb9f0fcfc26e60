"""The whole provisioning plan from observed state (pure), pinned by golden files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from keyvault_platform import provision
from keyvault_platform.core.messages import render_json
from keyvault_platform.core.plan import Action, detailed_exit_code
from keyvault_platform.core.views import render_text

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
        "@message": "keyvault-platform (ui 1.0)",
        "type": "version",
        "tool": "keyvault-platform",
        "ui": "1.0",
    }
    for line in lines[1:-1]:
        assert set(line) == {"@level", "@message", "type", "change"}
        assert set(line["change"]) == {"resource", "action", "reason", "drift", "fields", "notes"}
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
