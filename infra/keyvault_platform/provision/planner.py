"""Plan provisioning: compare an environment file with what was observed.

:func:`build_plan` (pure) plans one resource kind at a time, in the plan's
order: the resource group, the vault (its rules are tables, in
:mod:`keyvault_platform.provision.vault`), the role assignments of the grants
whose roles Azure knows (an unknown role is an error), and, when the deploying
identity's permissions were read, an error for each right the plan needs and
lacks. The resource group follows :data:`GROUP_RULES` (rendered here by
:func:`render_group_rules`; a test keeps this text equal to it):

==============  ======  =========================================================================
resource group  create  then
==============  ======  =========================================================================
absent          true    create, with its location and tags
absent          false   error: resource group {name!r} does not exist (set at {at})
exists          true    update its tags (declared ones added or corrected, others kept), or no-op
exists          false   left as is
==============  ======  =========================================================================

A group that exists in another location than the file says gets a warning:
a resource group cannot move, so it is left as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff, Plan
from keyvault_platform.core.tables import rst_table
from keyvault_platform.core.targets import resolve_targets, select
from keyvault_platform.provision import permissions as rights
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.provision.observe import ArmClients, Observed, observe
from keyvault_platform.provision.vault import DIFFERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisionPlan:
    """The rendered plan and what apply needs to carry it out."""

    plan: Plan
    env: Environment
    observed: Observed
    resource_group_action: Action
    vault: vaults.VaultPlan
    assignments: ra.AssignmentPlan | None
    #: With ``--target``: the addresses to apply (None: all of the plan).
    only: frozenset[str] | None = None


# --------------------------------------------------------------------------
# The resource group's rules


@dataclass(frozen=True)
class GroupRule:
    """One row of :data:`GROUP_RULES`: whether the group exists and may be created."""

    exists: bool
    create: bool  # resource_group.create: the tool manages the group
    action: Action
    refusal: vaults.Refusal | None = None


#: Exactly one row applies to each (exists, create); a unit test goes through them.
GROUP_RULES: tuple[GroupRule, ...] = (
    GroupRule(False, True, Action.CREATE),
    GroupRule(
        False,
        False,
        Action.NO_OP,
        refusal=vaults.Refusal(
            "resource group {name!r} does not exist (set at {at})",
            "Create it, ask for it to be created, or set resource_group.create: true "
            "(which needs rights on the subscription).",
        ),
    ),
    # The group may hold other things: declared tags are added or corrected,
    # tags set by others are kept (no-op when nothing is added or corrected).
    GroupRule(True, True, Action.UPDATE),
    GroupRule(True, False, Action.NO_OP),
)


def group_rule(exists: bool, create: bool) -> GroupRule:
    """The one row of :data:`GROUP_RULES` for a group that ``exists``, under ``create``."""
    (rule,) = (r for r in GROUP_RULES if (r.exists, r.create) == (exists, create))
    return rule


def render_group_rules() -> str:
    """:data:`GROUP_RULES` as a reStructuredText table (the module docstring's)."""
    then = {
        Action.CREATE: "create, with its location and tags",
        Action.UPDATE: "update its tags (declared ones added or corrected, others kept), or no-op",
        Action.NO_OP: "left as is",
    }
    rows = [
        (
            "exists" if rule.exists else "absent",
            "true" if rule.create else "false",
            f"error: {rule.refusal.summary}" if rule.refusal else then[rule.action],
        )
        for rule in GROUP_RULES
    ]
    return rst_table(("resource group", "create", "then"), rows)


# --------------------------------------------------------------------------
# Planning (pure), one resource kind at a time


@dataclass(frozen=True)
class GroupPlan:
    change: Change
    diagnostics: tuple[Diagnostic, ...] = ()


def plan_resource_group(env: Environment, observed: Observed) -> GroupPlan:
    """The resource group's change by :data:`GROUP_RULES`; a group never moves."""
    spec = env.resource_group
    addr = f"resource_group.{spec.name}"
    actual = observed.resource_group
    rule = group_rule(actual is not None, spec.create)
    diagnostics = []
    if rule.refusal is not None:
        at = str(env.locate("resource_group", "name"))
        diagnostics.append(rule.refusal.diagnostic(addr, name=spec.name, at=at))
    if actual is None:
        fields: tuple[FieldDiff, ...] = ()
        if rule.action is Action.CREATE:
            fields = (
                FieldDiff("location", ABSENT, spec.location),
                FieldDiff("tags", ABSENT, dict(spec.tags)),
            )
        return GroupPlan(Change(addr, rule.action, fields), tuple(diagnostics))
    if actual.location != spec.location:
        diagnostics.append(
            Diagnostic(
                "warning",
                f"resource group {spec.name!r} is in {actual.location}, the file "
                f"says {spec.location}; a resource group cannot move, so this is "
                "left as is",
                None,
                addr,
            )
        )
    merged = {**actual.tags, **spec.tags}
    if rule.action is Action.UPDATE and actual.tags != merged:
        change = Change(
            addr, rule.action, (FieldDiff("tags", actual.tags, merged),), reason=DIFFERS
        )
    else:
        change = Change(addr, Action.NO_OP)
    return GroupPlan(change, tuple(diagnostics))


def plan_vault(env: Environment, observed: Observed) -> vaults.VaultPlan:
    """The vault's changes (:func:`~keyvault_platform.provision.vault.plan_vault`)."""
    where = {
        name: str(env.locate(*path))
        for name, path in vaults.SPEC_PATHS.items()
        if env.document is not None and tuple(path) in env.document.positions
    }
    return vaults.plan_vault(
        env.vault,
        tenant_id=env.tenant_id,
        resource_group_id=env.resource_group_id,
        actual=observed.vault,
        deleted=observed.deleted_vault,
        name_available=observed.name_available,
        where=where,
    )


def unknown_roles(env: Environment, observed: Observed) -> tuple[Diagnostic, ...]:
    """An error for each grant of a role Azure does not know."""
    return tuple(
        Diagnostic(
            "error",
            f"unknown role {role!r} in grant {grant.name!r} (at {grant.location})",
            "Use a role name as Azure lists it, e.g. 'Key Vault Secrets User' or "
            "'Key Vault Secrets Officer' (`az role definition list --query "
            "[].roleName`).",
            f"role_assignment.{grant.name}",
        )
        for role in observed.unknown_roles
        for grant in env.access
        if grant.role.lower() == role.lower()
    )


def plan_assignments(
    env: Environment, observed: Observed, *, prune: bool = False
) -> ra.AssignmentPlan:
    """The role assignments for the grants whose roles are known."""
    known_grants = [g for g in env.access if g.role.lower() in observed.roles]
    vault_id = observed.vault.id if observed.vault is not None else env.vault_resource_id
    desired = ra.desired_assignments(known_grants, vault_id, observed.roles)
    # After a create or a recovery, no assignment exists at the vault's scopes.
    actual = observed.assignments if observed.vault is not None else ()
    return ra.plan_assignments(
        desired, actual, vault_id=vault_id, role_names=observed.role_names, prune=prune
    )


def permission_refusals(
    observed: Observed, group: Change, vault: vaults.VaultPlan, assignments: ra.AssignmentPlan
) -> list[Diagnostic]:
    """An error for each right the plan needs and the deploying identity lacks, if read."""
    if observed.permissions is None:
        return []
    needs = rights.needs_of(
        resource_group_action=group.action,
        resource_group_address=group.address,
        vault=vault,
        assignments=assignments,
    )
    return rights.refusals(needs, observed.permissions)


def build_plan(env: Environment, observed: Observed, *, prune: bool = False) -> ProvisionPlan:
    """Compare the environment file with what was observed; no I/O."""
    group = plan_resource_group(env, observed)
    vault = plan_vault(env, observed)
    assignments = plan_assignments(env, observed, prune=prune)
    changes = (group.change, *vault.changes, *assignments.changes)
    diagnostics = (
        *group.diagnostics,
        *vault.diagnostics,
        *observed.notes,
        *unknown_roles(env, observed),
        *assignments.diagnostics,
        *permission_refusals(observed, group.change, vault, assignments),
    )
    return ProvisionPlan(
        plan=Plan(changes, diagnostics),
        env=env,
        observed=observed,
        resource_group_action=group.change.action,
        vault=vault,
        assignments=assignments,
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


def dependencies(planned: ProvisionPlan) -> dict[str, tuple[str, ...]]:
    """Each pending change's address and the pending changes it waits for, as apply orders them.

    The vault waits for its resource group; the update after a recover and
    every role assignment wait for the vault.
    """
    group = f"resource_group.{planned.env.resource_group.name}"
    vault = planned.vault.change.address
    pending = {c.address for c in planned.plan.pending}
    result: dict[str, tuple[str, ...]] = {}
    for change in planned.plan.pending:
        if change.address == group:
            waits: tuple[str, ...] = ()
        elif change.address == vault:
            waits = (group,)
        else:
            waits = (vault,)
        result[change.address] = tuple(w for w in waits if w in pending)
    return result


def target(planned: ProvisionPlan, targets: tuple[str, ...] | list[str]) -> ProvisionPlan:
    """Only the ``--target`` changes (:mod:`keyvault_platform.core.targets`).

    A targeted change that waits for a pending change not targeted (a role
    assignment on a vault still to be created) is an error in the plan: the
    apply would meet a resource that is not there yet.
    """
    if not targets:
        return planned
    known = {c.address for c in planned.plan.changes}
    known |= {d.address for d in planned.plan.diagnostics if d.address}
    chosen = resolve_targets(targets, known)
    waits = dependencies(planned)
    refusals = [
        Diagnostic(
            "error",
            f"{address} needs {needed}, which this plan changes too",
            f"Add --target {needed}, or apply without --target.",
            address,
        )
        for address in sorted(chosen)
        for needed in waits.get(address, ())
        if needed not in chosen
    ]
    return replace(
        planned, plan=select(planned.plan, chosen).with_diagnostics(refusals), only=chosen
    )
