"""Provisioning: plan, apply and verify one environment's vault and grants.

::

    env = load_environment("local")
    target = env.target()
    with ArmClients(target) as arm:
        planned = plan(env, arm, prune_assignments=False)   # reads only
        if not planned.plan.errors:
            result = apply(planned, arm)                    # exactly the plan
            report = verify(env, target, arm)               # reads metadata only

The plan reads the resource group, the vault, a soft-deleted vault of the
same name, the role definitions named by the file and the role assignments
at the vault (and declared secret) scopes; it refuses unsafe changes before
any write. When the plan would write, it also asks Azure's permissions API
what the deploying identity may do there, and refuses the plan for a right
it lacks (:mod:`keyvault_platform.provision.permissions`) instead of failing half-way through
apply. Apply executes the planned changes in dependency order, re-reading
the vault first so that a change made since the plan stops it, and treats
ARM's idempotent answers (200 on re-PUT, 409 ``RoleAssignmentExists``) as
done. A plan without changes makes no ARM writes.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff, Plan
from keyvault_platform.provision import permissions as rights
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.provision.vault import DIFFERS
from keyvault_platform.target.azure_errors import inner_code
from keyvault_platform.target.target import ARM_SCOPE, Target

if TYPE_CHECKING:
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

log = logging.getLogger(__name__)


class ArmClients:
    """The three management clients for one target and deploying identity."""

    def __init__(self, target: Target, identity: str | None = None) -> None:
        self.target = target
        self.identity = identity
        self.keyvault: KeyVaultManagementClient = target.keyvault_management(identity)
        self.authorization: AuthorizationManagementClient = target.authorization_management(
            identity
        )
        self.resources: ResourceManagementClient = target.resource_management(identity)

    def close(self) -> None:
        for client in (self.keyvault, self.authorization, self.resources):
            client.close()

    def __enter__(self) -> ArmClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------
# What was read


@dataclass(frozen=True)
class ResourceGroupState:
    name: str
    location: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Observed:
    """Everything the plan read from Azure. Pure data, so planning is testable."""

    resource_group: ResourceGroupState | None
    vault: vaults.VaultState | None
    deleted_vault: vaults.DeletedVaultState | None
    name_available: bool | None
    roles: dict[str, ra.RoleDefinition]
    unknown_roles: tuple[str, ...] = ()
    assignments: tuple[ra.AssignmentState, ...] = ()
    role_names: dict[str, str] = field(default_factory=dict)
    notes: tuple[Diagnostic, ...] = ()  # what could not be read, as warnings
    # The deploying identity's permissions, read only when the plan would write.
    permissions: rights.Permissions | None = None


def observe(env: Environment, arm: ArmClients) -> Observed:
    """Read the actual state (GETs and one name check; no writes)."""
    rg = _read_resource_group(arm.resources, env.resource_group.name)
    vault = None
    if rg is not None:
        vault = vaults.read_vault(arm.keyvault, env.resource_group.name, env.vault.name)
    deleted = None
    notes: list[Diagnostic] = []
    addr = vaults.address(env.vault)
    if vault is None:
        # Both reads are subscription-level rights; a deployer scoped to the
        # resource group may lack them. Plan on, and say what was not checked.
        try:
            deleted = vaults.read_deleted_vault(arm.keyvault, env.vault.name, env.vault.location)
        except vaults.AccessDenied:
            notes.append(
                Diagnostic(
                    "warning",
                    "could not check for a soft-deleted vault of this name (no "
                    "Microsoft.KeyVault/locations/deletedVaults/read on the subscription)",
                    "If one exists, creating the vault will fail with a conflict.",
                    addr,
                )
            )
    available = None
    if vault is None and deleted is None:
        try:
            available = vaults.name_available(arm.keyvault, env.vault.name)
        except vaults.AccessDenied:
            notes.append(
                Diagnostic(
                    "warning",
                    "could not check that the vault name is free (no "
                    "Microsoft.KeyVault/checkNameAvailability/read on the subscription)",
                    None,
                    addr,
                )
            )
    subscription_scope = f"/subscriptions/{env.subscription_id}"
    roles, unknown = ra.resolve_roles(
        arm.authorization, subscription_scope, (g.role for g in env.access)
    )
    assignments: list[ra.AssignmentState] = []
    role_names: dict[str, str] = {}
    if vault is not None:
        scopes = [vault.id] + [f"{vault.id}/secrets/{s}" for g in env.access for s in g.secrets]
        seen: set[str] = set()
        for scope in scopes:
            for state in ra.list_at_scope(arm.authorization, scope):
                if state.id.lower() not in seen:
                    seen.add(state.id.lower())
                    assignments.append(state)
        vault_scope = vault.id.lower()
        if any(
            a.scope.lower() == vault_scope and a.key[1:] not in _declared_pairs(roles, env)
            for a in assignments
        ):
            role_names = ra.role_names_by_guid(arm.authorization, subscription_scope)
    return Observed(
        resource_group=rg,
        vault=vault,
        deleted_vault=deleted,
        name_available=available,
        roles=roles,
        unknown_roles=tuple(unknown),
        assignments=tuple(assignments),
        role_names=role_names,
        notes=tuple(notes),
    )


def _declared_pairs(roles: dict[str, ra.RoleDefinition], env: Environment) -> set[tuple[str, str]]:
    return {
        (g.principal_id.lower(), roles[g.role.lower()].guid)
        for g in env.access
        if g.role.lower() in roles
    }


def _read_resource_group(client: ResourceManagementClient, name: str) -> ResourceGroupState | None:
    try:
        group = client.resource_groups.get(name)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        raise vaults.arm_error(
            exc, doing=f"read resource group {name!r}", address=f"resource_group.{name}"
        ) from None
    return ResourceGroupState(
        name=str(group.name),
        location=str(group.location).replace(" ", "").lower(),
        tags=dict(group.tags or {}),
    )


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
    changes.append(vault_plan.change)
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


# --------------------------------------------------------------------------
# Apply


@dataclass(frozen=True)
class Timing:
    """Waits and how to wait (injectable so unit tests never sleep)."""

    principal_wait_s: float
    rbac_propagation_wait_s: float
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_environment(
        cls,
        env: Environment,
        *,
        principal_wait_s: float | None = None,
        rbac_propagation_wait_s: float | None = None,
    ) -> Timing:
        return cls(
            principal_wait_s=env.provisioning.principal_wait_s
            if principal_wait_s is None
            else principal_wait_s,
            rbac_propagation_wait_s=env.provisioning.rbac_propagation_wait_s
            if rbac_propagation_wait_s is None
            else rbac_propagation_wait_s,
        )


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    vault: vaults.VaultState | None = None


ProgressHook = Callable[[Change, str], None]


def apply(
    planned: ProvisionPlan,
    arm: ArmClients,
    *,
    timing: Timing | None = None,
    on_applied: ProgressHook | None = None,
) -> ApplyResult:
    """Carry out exactly the planned changes, in dependency order.

    Raises :class:`ActionableError` on the first failure; what was applied
    before it is in the plan (nothing else is ever written).
    """
    if planned.plan.errors:
        raise ActionableError("the plan has errors; nothing was applied")
    env = planned.env
    timing = timing or Timing.for_environment(env)
    result = ApplyResult(vault=planned.observed.vault)

    def done(address: str, outcome: str) -> None:
        change = planned.plan.change(address)
        assert change is not None
        result.applied.append(change)
        result.outcomes[address] = outcome
        if on_applied is not None:
            on_applied(change, outcome)

    rg_addr = f"resource_group.{env.resource_group.name}"
    if planned.resource_group_action in (Action.CREATE, Action.UPDATE):
        existing = planned.observed.resource_group
        tags = {**(existing.tags if existing else {}), **env.resource_group.tags}
        # A group cannot move: an update keeps its own location.
        location = existing.location if existing else env.resource_group.location
        _put_resource_group(arm.resources, env, location, tags)
        done(rg_addr, "created" if planned.resource_group_action is Action.CREATE else "updated")

    vault_change = planned.vault.change
    rg_name = env.resource_group.name
    if vault_change.action is not Action.NO_OP:
        _recheck_vault(arm.keyvault, planned)
    if vault_change.action is Action.CREATE:
        result.vault = vaults.apply_create(arm.keyvault, rg_name, env.vault, env.tenant_id)
        done(vault_change.address, "created")
    elif vault_change.action is Action.RECOVER:
        recovered = vaults.apply_create(
            arm.keyvault, rg_name, env.vault, env.tenant_id, recover=True
        )
        converge = vaults.plan_vault(
            env.vault,
            tenant_id=env.tenant_id,
            resource_group_id=env.resource_group_id,
            actual=recovered,
            deleted=None,
        )
        errors = [d for d in converge.diagnostics if d.severity == "error"]
        if errors:
            raise ActionableError(
                f"vault {env.vault.name!r} was recovered, but: {errors[0].summary}",
                hint=errors[0].detail,
                address=vault_change.address,
            )
        if converge.changed_fields:
            log.info("converging recovered vault: %s", ", ".join(converge.changed_fields))
            recovered = vaults.apply_update(
                arm.keyvault, rg_name, env.vault, converge.changed_fields
            )
        result.vault = recovered
        done(vault_change.address, "recovered")
    elif vault_change.action is Action.UPDATE:
        result.vault = vaults.apply_update(
            arm.keyvault, rg_name, env.vault, planned.vault.changed_fields
        )
        done(vault_change.address, "updated")

    assignments = planned.assignments
    if assignments is not None:
        budget = ra.RetryBudget(
            total_s=timing.principal_wait_s,
            first_delay_s=timing.first_delay_s,
            max_delay_s=timing.max_delay_s,
            sleep=timing.sleep,
            clock=timing.clock,
        )
        for item in assignments.creates:
            outcome = ra.create_assignment(arm.authorization, item, budget=budget)
            done(item.address, outcome)
        for state in assignments.deletes:
            ra.delete_assignment(arm.authorization, state)
            done(f"role_assignment.undeclared-{state.name}", "deleted")
    return result


def _recheck_vault(client: KeyVaultManagementClient, planned: ProvisionPlan) -> None:
    """Stop if the vault changed between plan and apply (someone else is at work)."""
    env = planned.env
    now = vaults.read_vault(client, env.resource_group.name, env.vault.name)
    before = planned.observed.vault
    if (now is None) != (before is None) or (
        now is not None
        and before is not None
        and vaults.actual_fields(now) != vaults.actual_fields(before)
    ):
        raise ActionableError(
            f"vault {env.vault.name!r} changed after the plan was made; nothing more was applied",
            hint="run the command again to plan against the current state",
            address=planned.vault.change.address,
        )


def _put_resource_group(
    client: ResourceManagementClient, env: Environment, location: str, tags: dict[str, str]
) -> None:
    from azure.mgmt.resource.resources.models import ResourceGroup

    spec = env.resource_group
    try:
        client.resource_groups.create_or_update(
            spec.name, ResourceGroup(location=location, tags=tags)
        )
    except HttpResponseError as exc:
        error = vaults.arm_error(
            exc, doing=f"create resource group {spec.name!r}", address=f"resource_group.{spec.name}"
        )
        if exc.status_code == 403:
            error.hint = (
                "creating a resource group needs Contributor (or Owner) on the subscription; "
                "create it beforehand and set resource_group.create: false"
            )
        raise error from None


# --------------------------------------------------------------------------
# Verify


CheckStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str = ""
    address: str | None = None


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "failed" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]


def verify(
    env: Environment,
    target: Target,
    arm: ArmClients,
    *,
    timing: Timing | None = None,
    roles: dict[str, ra.RoleDefinition] | None = None,
) -> VerifyReport:
    """Check the result: safety settings, each grant, and data-plane reads (metadata only).

    ``roles`` are the definitions the plan resolved (looked up again if not given).
    Data-plane reads wait with backoff up to ``timing.rbac_propagation_wait_s``
    for RBAC propagation, then report the identities still denied.
    """
    timing = timing or Timing.for_environment(env)
    report = VerifyReport()
    addr = vaults.address(env.vault)
    vault = vaults.read_vault(arm.keyvault, env.resource_group.name, env.vault.name)
    if vault is None:
        report.checks.append(Check("vault exists", "failed", "the vault was not found", addr))
        return report
    settings = [
        ("soft delete on", vault.soft_delete),
        ("RBAC authorization on", vault.rbac_authorization),
    ]
    if env.vault.purge_protection:
        settings.append(("purge protection on", vault.purge_protection))
    for name, ok in settings:
        report.checks.append(Check(name, "ok" if ok else "failed", "", addr))

    if roles is None:
        roles, _unknown = ra.resolve_roles(
            arm.authorization,
            f"/subscriptions/{env.subscription_id}",
            (g.role for g in env.access),
        )
    desired = ra.desired_assignments(
        [g for g in env.access if g.role.lower() in roles], vault.id, roles
    )
    present: set[tuple[str, str, str]] = set()
    for scope in sorted({d.scope for d in desired}):
        present.update(a.key for a in ra.list_at_scope(arm.authorization, scope))
    for item in desired:
        found = item.key in present
        report.checks.append(
            Check(
                f"grant {item.address.removeprefix('role_assignment.')} present",
                "ok" if found else "failed",
                "" if found else f"{item.role.name} for {item.grant.principal_id} is missing",
                item.address,
            )
        )

    probes = _read_probes(env, target, arm, desired, report)
    if probes and vault.vault_uri:
        _wait_for_reads(target, vault.vault_uri, probes, timing, report)
    return report


@dataclass
class _Probe:
    item: ra.DesiredAssignment
    identity: str | None  # emulator identity name; None: the ambient credential
    last_error: str = ""


def _read_probes(
    env: Environment,
    target: Target,
    arm: ArmClients,
    desired: Iterable[ra.DesiredAssignment],
    report: VerifyReport,
) -> list[_Probe]:
    """Which grants can be checked by reading as their principal from here."""
    probes: list[_Probe] = []
    by_object_id: dict[str, str] = {}
    own_object_id: str | None = None
    if target.is_emulator:
        by_object_id = {
            i.object_id.lower(): name for name, i in target.discovery().identities.items()
        }
    else:
        own_object_id = _signed_in_object_id(target)
    for item in desired:
        wanted = item.grant.verify_read
        if wanted is False or (wanted is None and not item.role.can_read_metadata()):
            continue
        label = f"{item.grant.name} can read secret metadata ({item.scope_label})"
        principal = item.grant.principal_id.lower()
        if target.is_emulator and principal in by_object_id:
            probes.append(_Probe(item, by_object_id[principal]))
        elif not target.is_emulator and own_object_id == principal:
            probes.append(_Probe(item, None))
        else:
            report.checks.append(
                Check(
                    label,
                    "skipped",
                    f"cannot act as principal {principal} from here; the role assignment "
                    "was checked instead (set verify_read: false to silence this)",
                    item.address,
                )
            )
    return probes


def _signed_in_object_id(target: Target) -> str | None:
    """The ``oid`` claim of the deploying identity's ARM token (no signature check needed)."""
    try:
        token = target.credential().get_token(ARM_SCOPE).token
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("oid", "")).lower() or None
    except Exception:  # a token we cannot decode only means we cannot self-verify
        return None


def _wait_for_reads(
    target: Target,
    vault_uri: str,
    probes: list[_Probe],
    timing: Timing,
    report: VerifyReport,
) -> None:
    pending = list(probes)
    clients: dict[str | None, Any] = {}
    deadline = timing.clock() + timing.rbac_propagation_wait_s
    delay = timing.first_delay_s
    attempts = 0
    try:
        while pending:
            attempts += 1
            still: list[_Probe] = []
            for probe in pending:
                label = (
                    f"{probe.item.grant.name} can read secret metadata ({probe.item.scope_label})"
                )
                client = clients.get(probe.identity)
                if client is None:
                    client = target.secret_client(vault_uri, identity=probe.identity)
                    clients[probe.identity] = client
                outcome, detail = _probe_read(client, probe.item)
                if outcome == "ok":
                    report.checks.append(Check(label, "ok", detail, probe.item.address))
                elif outcome == "denied":
                    probe.last_error = detail
                    still.append(probe)
                elif outcome == "skipped":
                    report.checks.append(Check(label, "skipped", detail, probe.item.address))
                else:
                    report.checks.append(Check(label, "failed", detail, probe.item.address))
            pending = still
            if not pending:
                break
            remaining = deadline - timing.clock()
            if remaining <= 0:
                for probe in pending:
                    who = probe.identity or probe.item.grant.principal_id
                    report.checks.append(
                        Check(
                            f"{probe.item.grant.name} can read secret metadata "
                            f"({probe.item.scope_label})",
                            "failed",
                            f"identity {who} ({probe.item.grant.principal_id}) is still denied "
                            f"after {timing.rbac_propagation_wait_s:g} s and {attempts} "
                            f"attempts: {probe.last_error}. RBAC changes can take up to 10 "
                            "minutes to propagate; raise provisioning.rbac_propagation_wait_s "
                            "or run `make provision` again later",
                            probe.item.address,
                        )
                    )
                return
            wait = min(delay, remaining, timing.max_delay_s)
            log.info(
                "waiting %.1f s for RBAC propagation (%d identities still denied)",
                wait,
                len(pending),
            )
            timing.sleep(wait)
            delay = min(delay * 2, timing.max_delay_s)
    finally:
        for client in clients.values():
            client.close()


def _probe_read(client: Any, item: ra.DesiredAssignment) -> tuple[str, str]:
    """One metadata read as the grant's principal: ok, denied, skipped or error."""
    try:
        if "/secrets/" in item.scope:
            name = item.scope.rsplit("/", 1)[-1]
            pages = client.list_properties_of_secret_versions(name).by_page()
        else:
            pages = client.list_properties_of_secrets().by_page()
        for _ in next(pages):
            break
        return "ok", ""
    except StopIteration:
        return "ok", ""
    except ResourceNotFoundError:
        return "ok", "the secret does not exist yet; access to it is granted"
    except HttpResponseError as exc:
        inner = inner_code(exc)
        if exc.status_code == 403 and inner in ("ForbiddenByFirewall", "ForbiddenByConnection"):
            return "skipped", f"the vault's network rules block this machine ({inner})"
        if exc.status_code in (401, 403):
            return "denied", f"{exc.status_code} {inner or vaults.error_code(exc)}".strip()
        return "error", f"{exc.status_code} {vaults.error_code(exc)}".strip()
    except ClientAuthenticationError as exc:
        return "error", f"could not sign in: {str(exc).splitlines()[0]}"
    except ServiceRequestError as exc:
        return "skipped", f"the vault is not reachable from here: {str(exc).splitlines()[0]}"
