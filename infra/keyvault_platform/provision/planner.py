"""Plan provisioning: compare an environment file with what was observed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff, Plan
from keyvault_platform.provision import permissions as rights
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.provision.observe import ArmClients, Observed, observe
from keyvault_platform.provision.vault import DIFFERS

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# Planning (pure)


@dataclass(frozen=True)
class ProvisionPlan:
    """The rendered plan and what apply needs to carry it out."""

    plan: Plan
    env: Environment
    observed: Observed
    resource_group_action: Action
    vault: vaults.VaultPlan
    assignments: ra.AssignmentPlan | None


def build_plan(env: Environment, observed: Observed, *, prune: bool = False) -> ProvisionPlan:
    """Compare the environment file with what was observed; no I/O."""
    changes: list[Change] = []
    diagnostics: list[Diagnostic] = []
    rg_spec = env.resource_group
    rg_addr = f"resource_group.{rg_spec.name}"
    rg_action = Action.NO_OP
    if observed.resource_group is None:
        if rg_spec.create:
            rg_action = Action.CREATE
            changes.append(
                Change(
                    rg_addr,
                    Action.CREATE,
                    (
                        FieldDiff("location", ABSENT, rg_spec.location),
                        FieldDiff("tags", ABSENT, dict(rg_spec.tags)),
                    ),
                )
            )
        else:
            diagnostics.append(
                Diagnostic(
                    "error",
                    f"resource group {rg_spec.name!r} does not exist "
                    f"(set at {env.locate('resource_group', 'name')})",
                    "Create it, ask for it to be created, or set resource_group.create: true "
                    "(which needs rights on the subscription).",
                    rg_addr,
                )
            )
            changes.append(Change(rg_addr, Action.NO_OP))
    else:
        actual_rg = observed.resource_group
        diffs = []
        # The group may hold other things: declared tags are added or
        # corrected, tags set by others are kept.
        merged = {**actual_rg.tags, **rg_spec.tags}
        if rg_spec.create and actual_rg.tags != merged:
            diffs.append(FieldDiff("tags", actual_rg.tags, merged))
        if actual_rg.location != rg_spec.location:
            diagnostics.append(
                Diagnostic(
                    "warning",
                    f"resource group {rg_spec.name!r} is in {actual_rg.location}, the file "
                    f"says {rg_spec.location}; a resource group cannot move, so this is "
                    "left as is",
                    None,
                    rg_addr,
                )
            )
        if diffs:
            rg_action = Action.UPDATE
            changes.append(
                Change(
                    rg_addr,
                    Action.UPDATE,
                    tuple(diffs),
                    reason=DIFFERS,
                )
            )
        else:
            changes.append(Change(rg_addr, Action.NO_OP))

    where = {
        name: str(env.locate(*path))
        for name, path in vaults.SPEC_PATHS.items()
        if env.document is not None and tuple(path) in env.document.positions
    }
    vault_plan = vaults.plan_vault(
        env.vault,
        tenant_id=env.tenant_id,
        resource_group_id=env.resource_group_id,
        actual=observed.vault,
        deleted=observed.deleted_vault,
        name_available=observed.name_available,
        where=where,
    )
    changes.extend(vault_plan.changes)
    diagnostics.extend(vault_plan.diagnostics)
    diagnostics.extend(observed.notes)

    for role in observed.unknown_roles:
        grants = [g for g in env.access if g.role.lower() == role.lower()]
        for grant in grants:
            diagnostics.append(
                Diagnostic(
                    "error",
                    f"unknown role {role!r} in grant {grant.name!r} (at {grant.location})",
                    "Use a role name as Azure lists it, e.g. 'Key Vault Secrets User' or "
                    "'Key Vault Secrets Officer' (`az role definition list --query "
                    "[].roleName`).",
                    f"role_assignment.{grant.name}",
                )
            )
    assignment_plan = None
    known_grants = [g for g in env.access if g.role.lower() in observed.roles]
    vault_id = observed.vault.id if observed.vault is not None else env.vault_resource_id
    desired = ra.desired_assignments(known_grants, vault_id, observed.roles)
    # After a create or a recovery, no assignment exists at the vault's scopes.
    actual = observed.assignments if observed.vault is not None else ()
    assignment_plan = ra.plan_assignments(
        desired, actual, vault_id=vault_id, role_names=observed.role_names, prune=prune
    )
    changes.extend(assignment_plan.changes)
    diagnostics.extend(assignment_plan.diagnostics)
    if observed.permissions is not None:
        needs = rights.needs_of(
            resource_group_action=rg_action,
            resource_group_address=rg_addr,
            vault=vault_plan,
            assignments=assignment_plan,
        )
        diagnostics.extend(rights.refusals(needs, observed.permissions))
    return ProvisionPlan(
        plan=Plan(tuple(changes), tuple(diagnostics)),
        env=env,
        observed=observed,
        resource_group_action=rg_action,
        vault=vault_plan,
        assignments=assignment_plan,
    )


def plan(env: Environment, arm: ArmClients, *, prune_assignments: bool = False) -> ProvisionPlan:
    """Read, then compare: the plan. Makes no writes.

    A plan that would write is checked against the deploying identity's
    permissions (one more read), so a missing right refuses the plan
    instead of failing half-way through apply.
    """
    observed = observe(env, arm)
    draft = build_plan(env, observed, prune=prune_assignments)
    checked = check_permissions(env, arm, draft)
    if checked is observed:
        return draft
    return build_plan(env, checked, prune=prune_assignments)


def check_permissions(env: Environment, arm: ArmClients, draft: ProvisionPlan) -> Observed:
    """``draft.observed`` with the permissions its changes need, or a warning why not.

    Unchanged (no request) when the plan writes nothing, or when the resource
    group does not exist yet: the permissions API has no scope to answer for.
    """
    observed = draft.observed
    needs = rights.needs_of(
        resource_group_action=draft.resource_group_action,
        resource_group_address=f"resource_group.{env.resource_group.name}",
        vault=draft.vault,
        assignments=draft.assignments,
    )
    if not needs or observed.resource_group is None:
        return observed
    vault = observed.vault.name if observed.vault is not None else None
    try:
        found = rights.read_permissions(arm.authorization, env.resource_group.name, vault=vault)
    except rights.PermissionsUnavailable as exc:
        log.warning("could not read the deploying identity's permissions: %s", exc)
        warning = rights.unavailable_warning(str(exc), needs[0].addresses[0])
        return replace(observed, notes=(*observed.notes, warning))
    return replace(observed, permissions=found)
