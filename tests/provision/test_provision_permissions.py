"""The plan-time rights check (pure): which actions a plan needs, and Azure's grant rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from keyvault_platform import provision
from keyvault_platform.core.plan import Action
from keyvault_platform.provision import permissions as rights

from .provision_helpers import APP, OUTSIDER, ROLES, SYNC, assignment, environment, vault_state

OWNER = rights.PermissionEntry(("*",))
CONTRIBUTOR = rights.PermissionEntry(
    ("*",),
    (
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
    ),
)
READER = rights.PermissionEntry(("*/read",))
USER_ACCESS_ADMINISTRATOR = rights.PermissionEntry(
    ("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*")
)
RBAC_ADMINISTRATOR = rights.PermissionEntry(
    (
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
        "*/read",
    )
)


def holding(*entries: rights.PermissionEntry) -> rights.Permissions:
    return rights.Permissions("resource group rg-unit", entries)


@pytest.mark.parametrize(
    ("permission", "action", "expected"),
    [
        ("*", "Microsoft.KeyVault/vaults/write", True),
        ("*/read", "Microsoft.KeyVault/vaults/read", True),
        ("*/read", "Microsoft.KeyVault/vaults/write", False),
        ("Microsoft.Authorization/*/Write", "microsoft.authorization/roleassignments/write", True),
        (
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/delete",
            False,
        ),
        ("Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write", True),
        ("Microsoft.KeyVault/*/write", "Microsoft.KeyVault/vaults/write", True),
        ("Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/write", False),
        ("Microsoft.*/vaults/*", "Microsoft.KeyVault/vaults/write", True),
        ("Microsoft.Key.ault/*", "Microsoft.KeyVault/vaults/write", False),  # "." is literal
    ],
)
def test_wildcards_and_case(permission: str, action: str, expected: bool) -> None:
    assert rights.action_matches(action, permission) is expected


def test_grant_rule_per_entry() -> None:
    write = rights.ROLE_ASSIGNMENTS_WRITE
    assert holding(OWNER).allows(write)
    assert not holding(CONTRIBUTOR).allows(write)
    assert holding(CONTRIBUTOR).allows(rights.VAULTS_WRITE)
    assert not holding(READER).allows(rights.VAULTS_WRITE)
    assert holding(RBAC_ADMINISTRATOR).allows(write)
    assert not holding(RBAC_ADMINISTRATOR).allows(rights.VAULTS_WRITE)
    assert not holding().allows(rights.VAULTS_WRITE)
    # A notAction subtracts from its own entry only, not from another assignment's.
    assert holding(CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR).allows(write)
    assert holding(CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR).allows(rights.VAULTS_WRITE)


@pytest.fixture
def env(tmp_path: Path):
    return environment(tmp_path)


def observed(**overrides) -> provision.Observed:
    base = provision.Observed(
        resource_group=provision.ResourceGroupState("rg-unit", "westeurope", {"env": "unit"}),
        vault=None,
        deleted_vault=None,
        name_available=True,
        roles=dict(ROLES),
    )
    return replace(base, **overrides)


CONVERGED = {
    "vault": vault_state(),
    "assignments": (
        assignment(APP, "key vault secrets user"),
        assignment(SYNC, "key vault secrets officer"),
    ),
}


def needs(planned: provision.ProvisionPlan) -> list[tuple[str, str]]:
    found = rights.needs_of(
        resource_group_action=planned.resource_group_action,
        resource_group_address="resource_group.rg-unit",
        vault=planned.vault,
        assignments=planned.assignments,
    )
    return [(n.action, n.doing) for n in found]


def test_a_converged_plan_needs_nothing(env) -> None:
    assert needs(provision.build_plan(env, observed(**CONVERGED))) == []


def test_a_fresh_vault_needs_vault_and_role_assignment_writes(env) -> None:
    assert needs(provision.build_plan(env, observed())) == [
        (rights.VAULTS_WRITE, "create the vault"),
        (rights.ROLE_ASSIGNMENTS_WRITE, "create role assignments"),
    ]


def test_a_resource_group_to_create_is_not_asked_about(env) -> None:
    planned = provision.build_plan(env, observed(resource_group=None))
    assert planned.resource_group_action is Action.CREATE
    assert rights.RESOURCE_GROUPS_WRITE not in [action for action, _ in needs(planned)]


def test_tag_only_changes_need_the_write_of_what_changes(env) -> None:
    retagged = observed(
        **{**CONVERGED, "vault": vault_state(tags={"env": "old"})},
        resource_group=provision.ResourceGroupState("rg-unit", "westeurope", {}),
    )
    assert needs(provision.build_plan(env, retagged)) == [
        (rights.RESOURCE_GROUPS_WRITE, "update the resource group's tags"),
        (rights.VAULTS_WRITE, "update the vault"),
    ]


def test_turning_rbac_authorization_on_needs_role_assignment_write(env) -> None:
    off = vault_state(properties={"enableRbacAuthorization": False})
    planned = provision.build_plan(env, observed(**{**CONVERGED, "vault": off}))
    assert needs(planned) == [
        (rights.VAULTS_WRITE, "update the vault"),
        (rights.ROLE_ASSIGNMENTS_WRITE, "change the vault's RBAC authorization setting"),
    ]
    refused = provision.build_plan(
        env, observed(**{**CONVERGED, "vault": off}, permissions=holding(CONTRIBUTOR))
    )
    [error] = refused.plan.errors
    assert "may not change the vault's RBAC authorization setting" in error.summary
    assert "enableRbacAuthorization" in (error.detail or "")


def test_pruning_needs_role_assignment_delete(env) -> None:
    drifted = observed(
        **{**CONVERGED, "assignments": (*CONVERGED["assignments"], assignment(OUTSIDER, "reader"))}
    )
    planned = provision.build_plan(env, drifted, prune=True)
    assert needs(planned) == [(rights.ROLE_ASSIGNMENTS_DELETE, "delete role assignments")]
    refused = provision.build_plan(env, replace(drifted, permissions=holding(READER)), prune=True)
    [error] = refused.plan.errors
    assert "may not delete role assignments" in error.summary
    assert (
        "the deploying identity needs User Access Administrator or Owner on the resource group "
        "to delete role assignments"
    ) in (error.detail or "")


def test_contributor_is_refused_role_assignments_only(env) -> None:
    planned = provision.build_plan(env, observed(permissions=holding(CONTRIBUTOR)))
    [error] = planned.plan.errors
    assert error.summary == (
        "the deploying identity may not create role assignments (no "
        "Microsoft.Authorization/roleAssignments/write on resource group rg-unit)"
    )
    assert error.address == "role_assignment.app-reads"
    assert error.detail is not None and error.detail.startswith(
        "the deploying identity needs User Access Administrator or Owner on the resource group "
        "to create role assignments."
    )
    assert "role_assignment.app-reads, role_assignment.sync-writes" in error.detail


def test_reader_is_refused_everything_and_owner_nothing(env) -> None:
    refused = provision.build_plan(env, observed(permissions=holding(READER)))
    assert sorted(e.address for e in refused.plan.errors) == [
        "role_assignment.app-reads",
        "vault.kv-unit",
    ]
    vault_error = next(e for e in refused.plan.errors if e.address == "vault.kv-unit")
    assert "needs Contributor (or Owner) on the resource group to manage the vault" in (
        vault_error.detail or ""
    )
    assert not provision.build_plan(env, observed(permissions=holding(OWNER))).plan.errors
    assert not provision.build_plan(
        env, observed(permissions=holding(CONTRIBUTOR, RBAC_ADMINISTRATOR))
    ).plan.errors


def test_unavailable_permissions_are_a_warning_not_a_refusal() -> None:
    warning = rights.unavailable_warning("403 AuthorizationFailed", "vault.kv-unit")
    assert warning.severity == "warning"
    assert "403 AuthorizationFailed" in warning.summary
