"""Role assignments: deterministic names, diffing, and safe creation.

Every declared grant becomes one assignment per scope (the vault, or each
named secret) whose name is a UUIDv5 of (scope, principal, role definition),
as Azure Verified Modules do, so re-running never duplicates. The plan
compares by (scope, principal, role), not by name: an equal assignment made
by hand under another name already satisfies the file: the plan lists it as
found and adopted, and creates no duplicate (a PUT would get 409
``RoleAssignmentExists``, which apply also treats as done).

``principalType`` is always sent: it lets ARM skip the directory lookup
that fails with ``PrincipalNotFound`` while a new identity replicates. If
that still happens, creation is retried with capped backoff for a bounded
time, then fails naming the principal.

Assignments exactly at the vault scope that the file does not declare are
drift: shown as warnings, and deleted only with ``prune=True``.

A grant limited to some orgs carries an ABAC condition
(:mod:`keyvault_platform.provision.conditions`). Its condition is part of
what is compared: ours with another condition (or none) is updated in place
(a PUT to the same name, drift); one made by hand with another condition
grants more (or less) than declared, so it is refused, and with
``prune=True`` replaced by ours.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from keyvault_platform.config.environment import Grant
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff
from keyvault_platform.provision.conditions import (
    CONDITION_VERSION,
    org_read_condition,
    same_condition,
)
from keyvault_platform.provision.vault import arm_error, error_code

if TYPE_CHECKING:
    from azure.mgmt.authorization import AuthorizationManagementClient

log = logging.getLogger(__name__)

# Fixed namespace for assignment names; changing it would re-create every assignment.
ASSIGNMENT_NAMESPACE = uuid.UUID("0f3c6a52-6a35-4c3e-9d0c-7c1a3b8e5f21")

READ_METADATA = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"

NO_RIGHTS_HINT = (
    "the deploying identity needs User Access Administrator or Owner on the resource "
    "group to create role assignments"
)


def role_guid(role_definition_id: str) -> str:
    """The GUID at the end of a role definition id."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def assignment_name(scope: str, principal_id: str, role_definition_id: str) -> str:
    """Deterministic assignment name: UUIDv5 of (scope, principal, role), case-insensitive."""
    key = f"{scope.lower().rstrip('/')}|{principal_id.lower()}|{role_guid(role_definition_id)}"
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, key))


@dataclass(frozen=True)
class RoleDefinition:
    id: str  # full resource id
    name: str  # roleName
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    @property
    def guid(self) -> str:
        return role_guid(self.id)

    def can_read_metadata(self) -> bool:
        return _matches(READ_METADATA, self.data_actions) and not _matches(
            READ_METADATA, self.not_data_actions
        )

    @classmethod
    def from_sdk(cls, definition: Any) -> RoleDefinition:
        data: list[str] = []
        not_data: list[str] = []
        for permission in definition.permissions or []:
            data.extend(permission.data_actions or [])
            not_data.extend(permission.not_data_actions or [])
        return cls(
            id=str(definition.id),
            name=str(definition.role_name),
            data_actions=tuple(data),
            not_data_actions=tuple(not_data),
        )


def _matches(action: str, patterns: Iterable[str]) -> bool:
    action = action.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == action:
            return True
        if "*" in pattern:
            head, _, tail = pattern.partition("*")
            if action.startswith(head) and action.endswith(tail.replace("*", "")):
                return True
    return False


@dataclass(frozen=True)
class AssignmentState:
    """A role assignment as ARM describes it."""

    name: str
    id: str
    scope: str
    principal_id: str
    principal_type: str | None
    role_definition_id: str
    condition: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (
            self.scope.lower().rstrip("/"),
            self.principal_id.lower(),
            role_guid(self.role_definition_id),
        )

    @classmethod
    def from_sdk(cls, assignment: Any) -> AssignmentState:
        return cls(
            name=str(assignment.name),
            id=str(assignment.id),
            scope=str(assignment.scope),
            principal_id=str(assignment.principal_id).lower(),
            principal_type=assignment.principal_type,
            role_definition_id=str(assignment.role_definition_id),
            condition=getattr(assignment, "condition", None) or None,
        )


@dataclass(frozen=True)
class DesiredAssignment:
    """One assignment the file asks for."""

    address: str
    grant: Grant
    scope: str
    role: RoleDefinition

    @property
    def name(self) -> str:
        return assignment_name(self.scope, self.grant.principal_id, self.role.id)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.scope.lower().rstrip("/"), self.grant.principal_id.lower(), self.role.guid)

    @property
    def scope_label(self) -> str:
        if "/secrets/" in self.scope:
            return "secret " + self.scope.rsplit("/", 1)[-1]
        return "vault"

    @property
    def condition(self) -> str | None:
        """The ABAC condition limiting the grant to its orgs (None: unlimited)."""
        return org_read_condition(self.grant.orgs) if self.grant.orgs else None

    def fields(self) -> tuple[FieldDiff, ...]:
        fields = [
            FieldDiff("name", ABSENT, self.name),
            FieldDiff("principal_id", ABSENT, self.grant.principal_id),
            FieldDiff("principal_type", ABSENT, self.grant.principal_type),
            FieldDiff("role", ABSENT, self.role.name),
            FieldDiff("scope", ABSENT, self.scope_label),
        ]
        if self.condition is not None:
            fields.append(FieldDiff("orgs", ABSENT, list(self.grant.orgs)))
            fields.append(FieldDiff("condition", ABSENT, self.condition))
        return tuple(fields)


def desired_assignments(
    grants: Iterable[Grant], vault_id: str, roles: Mapping[str, RoleDefinition]
) -> list[DesiredAssignment]:
    """Expand grants into assignments; ``roles`` maps role names (lower case) to definitions."""
    result = []
    for grant in grants:
        role = roles[grant.role.lower()]
        if grant.at_vault_scope:
            result.append(DesiredAssignment(f"role_assignment.{grant.name}", grant, vault_id, role))
        else:
            for secret in grant.secrets:
                result.append(
                    DesiredAssignment(
                        f"role_assignment.{grant.name}/{secret}",
                        grant,
                        f"{vault_id}/secrets/{secret}",
                        role,
                    )
                )
    return result


@dataclass(frozen=True)
class AssignmentPlan:
    changes: tuple[Change, ...]
    diagnostics: tuple[Diagnostic, ...]
    creates: tuple[DesiredAssignment, ...]  # PUTs: new assignments, and ours re-conditioned
    deletes: tuple[AssignmentState, ...]


def plan_assignments(
    desired: Iterable[DesiredAssignment],
    actual: Iterable[AssignmentState],
    *,
    vault_id: str,
    role_names: Mapping[str, str] | None = None,
    prune: bool = False,
) -> AssignmentPlan:
    """Compare; pure. ``actual`` are the assignments read at the vault and secret scopes.

    ``role_names`` maps role definition GUIDs to names, to describe drift.
    """
    role_names = role_names or {}
    actual_list = list(actual)
    by_key: dict[tuple[str, str, str], AssignmentState] = {}
    for state in actual_list:
        by_key.setdefault(state.key, state)
    changes: list[Change] = []
    diagnostics: list[Diagnostic] = []
    creates: list[DesiredAssignment] = []
    wanted_keys = set()
    deletes: list[AssignmentState] = []
    for item in desired:
        wanted_keys.add(item.key)
        existing = by_key.get(item.key)
        if existing is not None and not same_condition(existing.condition, item.condition):
            change, diagnostic = _condition_drift(item, existing, prune=prune)
            if change is not None:
                changes.append(change)
            if diagnostic is not None:
                diagnostics.append(diagnostic)
            elif existing.name.lower() == item.name.lower():
                creates.append(item)  # a PUT to the same name updates the condition
            else:
                deletes.append(existing)
                creates.append(item)
                changes.append(Change(item.address, Action.CREATE, item.fields()))
            continue
        if existing is not None and existing.name.lower() != item.name.lower():
            # Made by hand (or by another tool) under another name: it grants
            # exactly what is declared, so it is kept and no duplicate is made.
            changes.append(
                Change(
                    item.address,
                    Action.NO_OP,
                    reason=f"an existing assignment grants it ({existing.name}); "
                    "no duplicate is created",
                )
            )
        elif existing is not None:
            changes.append(Change(item.address, Action.NO_OP))
        else:
            creates.append(item)
            changes.append(Change(item.address, Action.CREATE, item.fields()))
    vault_scope = vault_id.lower().rstrip("/")
    for state in actual_list:
        if state.scope.lower().rstrip("/") != vault_scope or state.key in wanted_keys:
            continue
        role = role_names.get(
            role_guid(state.role_definition_id), role_guid(state.role_definition_id)
        )
        addr = f"role_assignment.undeclared-{state.name}"
        described = (
            f"{role} for principal {state.principal_id} "
            f"({state.principal_type or 'unknown type'}) at the vault scope"
        )
        if prune:
            deletes.append(state)
            changes.append(
                Change(
                    addr,
                    Action.DELETE,
                    (
                        FieldDiff("principal_id", state.principal_id, ABSENT),
                        FieldDiff("role", role, ABSENT),
                    ),
                    reason="not declared in the environment file; --prune-assignments",
                    drift=True,
                )
            )
        else:
            diagnostics.append(
                Diagnostic(
                    "warning",
                    "drift: a role assignment at the vault scope is not declared in the "
                    "environment file",
                    f"{described}.\nDeclare it under access:, or remove it with "
                    "--prune-assignments.",
                    addr,
                )
            )
    return AssignmentPlan(tuple(changes), tuple(diagnostics), tuple(creates), tuple(deletes))


def _condition_drift(
    item: DesiredAssignment, existing: AssignmentState, *, prune: bool
) -> tuple[Change | None, Diagnostic | None]:
    """An assignment for the declared (principal, role, scope) whose condition differs."""
    fields = (FieldDiff("condition", existing.condition or ABSENT, item.condition or ABSENT),)
    if existing.name.lower() == item.name.lower():
        reason = "the assignment's condition differs from the declared orgs"
        return Change(item.address, Action.UPDATE, fields, reason=reason, drift=True), None
    if prune:
        change = Change(
            f"role_assignment.undeclared-{existing.name}",
            Action.DELETE,
            fields,
            reason="grants the declared role with another condition; replaced "
            "(--prune-assignments)",
            drift=True,
        )
        return change, None
    wider = existing.condition is None
    where = f" (declared at {item.grant.location})" if item.grant.location else ""
    return None, Diagnostic(
        "error",
        f"role assignment {existing.name} grants {item.role.name} to {item.grant.principal_id} "
        f"at the vault scope {'without' if wider else 'with another'} condition",
        detail=(
            f"Grant {item.grant.name!r}{where} limits it to orgs "
            f"{', '.join(item.grant.orgs) or '(all)'}; "
            + (
                "this assignment lets the principal read every org's secrets. "
                if wider
                else "this assignment's condition is not the declared one. "
            )
            + "Delete it (az role assignment delete --ids "
            f"{existing.id}), or run with --prune-assignments to replace it."
        ),
        address=item.address,
    )


# --------------------------------------------------------------------------
# I/O


def resolve_roles(
    client: AuthorizationManagementClient, scope: str, names: Iterable[str]
) -> tuple[dict[str, RoleDefinition], list[str]]:
    """Look role names up at ``scope``; returns (found by lower-case name, unknown names)."""
    found: dict[str, RoleDefinition] = {}
    unknown: list[str] = []
    for name in sorted({n for n in names}, key=str.lower):
        if name.lower() in found:
            continue
        escaped = name.replace("'", "''")
        try:
            matches = [
                RoleDefinition.from_sdk(d)
                for d in client.role_definitions.list(scope, filter=f"roleName eq '{escaped}'")
            ]
        except HttpResponseError as exc:
            raise arm_error(exc, doing=f"look up role {name!r}") from None
        exact = [m for m in matches if m.name.lower() == name.lower()]
        if exact:
            found[name.lower()] = exact[0]
        else:
            unknown.append(name)
    return found, unknown


def role_names_by_guid(client: AuthorizationManagementClient, scope: str) -> dict[str, str]:
    """All role definition names visible at ``scope`` by GUID (for describing drift)."""
    try:
        return {role_guid(str(d.id)): str(d.role_name) for d in client.role_definitions.list(scope)}
    except HttpResponseError:
        return {}


def list_at_scope(client: AuthorizationManagementClient, scope: str) -> list[AssignmentState]:
    """Assignments that apply at ``scope`` (``atScope()``: this scope and above), exactly."""
    try:
        return [
            AssignmentState.from_sdk(a)
            for a in client.role_assignments.list_for_scope(scope, filter="atScope()")
        ]
    except ResourceNotFoundError:
        return []
    except HttpResponseError as exc:
        raise arm_error(exc, doing=f"list role assignments at {scope}") from None


@dataclass(frozen=True)
class RetryBudget:
    """How long to keep retrying PrincipalNotFound, and how to wait."""

    total_s: float
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def create_assignment(
    client: AuthorizationManagementClient,
    item: DesiredAssignment,
    *,
    budget: RetryBudget,
    before_request: Callable[[], None] | None = None,
) -> str:
    """PUT one assignment. Returns "created" or "exists" (409 RoleAssignmentExists).

    ``PrincipalNotFound`` is retried with capped exponential backoff until
    ``budget.total_s`` has passed, then raised as an actionable error.
    ``before_request`` is called before each PUT (the executor's hook: it
    raises once the apply is interrupted, ending the retries).
    """
    # The models of the API version the client uses for role assignments (2022-04-01);
    # ``azure.mgmt.authorization.models`` mixes every version's classes.
    from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

    condition = item.condition
    parameters = RoleAssignmentCreateParameters(
        role_definition_id=item.role.id,
        principal_id=item.grant.principal_id,
        principal_type=item.grant.principal_type,
        description=f"keyvault-platform: {item.address}",
        condition=condition,
        condition_version=CONDITION_VERSION if condition is not None else None,
    )
    deadline = budget.clock() + budget.total_s
    delay = budget.first_delay_s
    attempts = 0
    while True:
        attempts += 1
        if before_request is not None:
            before_request()
        try:
            response = client.role_assignments.create(item.scope, item.name, parameters)
            log.info("created %s (%s)", item.address, getattr(response, "name", item.name))
            return "created"
        except HttpResponseError as exc:
            code = error_code(exc)
            if code == "RoleAssignmentExists":
                log.info("%s already exists under another name", item.address)
                return "exists"
            if code == "PrincipalNotFound":
                remaining = deadline - budget.clock()
                if remaining <= 0:
                    where = f" (declared at {item.grant.location})" if item.grant.location else ""
                    raise ActionableError(
                        f"principal {item.grant.principal_id} of grant {item.grant.name!r}"
                        f"{where} was not found in the directory after {attempts} attempts "
                        f"over {budget.total_s:g} s",
                        hint="check principal_id is the identity's object (principal) id, "
                        "not its client id; a new identity can take minutes to replicate "
                        "(raise provisioning.principal_wait_s)",
                        address=item.address,
                    ) from None
                wait = min(delay, remaining, budget.max_delay_s)
                log.info(
                    "%s: principal %s not found yet; retrying in %.1f s",
                    item.address,
                    item.grant.principal_id,
                    wait,
                )
                budget.sleep(wait)
                delay = min(delay * 2, budget.max_delay_s)
                continue
            if code == "AuthorizationFailed" or exc.status_code == 403:
                raise ActionableError(
                    f"could not create {item.address}: the deploying identity may not "
                    "create role assignments",
                    hint=NO_RIGHTS_HINT,
                    address=item.address,
                ) from None
            if code == "RoleAssignmentUpdateNotPermitted":
                raise ActionableError(
                    f"could not create {item.address}: the name {item.name} is used by "
                    "another assignment with a different principal, role or scope",
                    hint="delete that assignment (it cannot be updated in place), then run again",
                    address=item.address,
                ) from None
            raise arm_error(exc, doing=f"create {item.address}", address=item.address) from None


def delete_assignment(client: AuthorizationManagementClient, state: AssignmentState) -> str:
    """DELETE one assignment. Returns "deleted", or "gone" when it no longer existed."""
    try:
        client.role_assignments.delete(state.scope, state.name)
    except ResourceNotFoundError:
        return "gone"
    except HttpResponseError as exc:
        if error_code(exc) == "AuthorizationFailed" or exc.status_code == 403:
            raise ActionableError(
                f"could not delete role assignment {state.name}",
                hint=NO_RIGHTS_HINT.replace("create", "delete"),
            ) from None
        raise arm_error(exc, doing=f"delete role assignment {state.name}") from None
    return "deleted"
