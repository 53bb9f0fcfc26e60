"""Role assignments and the access decisions they drive (no HTTP here)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import BadRequest, Conflict
from ..persistence import Store
from .conditions import (
    SECRET_NAME,
    Attributes,
    ConditionSyntaxError,
    condition_allows,
    parse_condition,
)
from .roles import RoleDefinition, role_by_id

_SECRET_IN_RESOURCE = re.compile(
    r"/providers/microsoft\.keyvault/vaults/[^/]+/secrets/(?P<name>[^/]+)$", re.IGNORECASE
)


def normalize_scope(scope: str) -> str:
    return "/" + scope.strip("/").lower() if scope.strip("/") else "/"


def scope_contains(outer: str, inner: str) -> bool:
    """True when ``inner`` is ``outer`` or lies below it (case-insensitive)."""
    outer_n, inner_n = normalize_scope(outer), normalize_scope(inner)
    return outer_n == "/" or inner_n == outer_n or inner_n.startswith(outer_n + "/")


@dataclass(frozen=True)
class RoleAssignment:
    name: str  # the GUID in the resource id
    scope: str
    role_definition_id: (
        str  # full id: {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}
    )
    principal_id: str
    principal_type: str
    created_on: float
    updated_on: float
    created_by: str = ""
    description: str | None = None
    effective_at: float = 0.0  # when the data plane starts honouring it (propagation)
    condition: str | None = None  # ABAC condition; an assignment with one is "restricted"
    condition_version: str | None = None
    updated_by: str = ""

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.name}"

    @property
    def role(self) -> RoleDefinition | None:
        return role_by_id(self.role_definition_id)


class RoleAssignments:
    """All role assignments in the emulated tenant, keyed by name (GUID)."""

    KIND = "role_assignment"

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_name: dict[str, RoleAssignment] = {
            key: RoleAssignment(**data) for key, data in store.load(self.KIND)
        }
        self._version = 0
        self._decisions: dict[tuple[str, str, str], tuple[int, bool]] = {}

    def all(self) -> list[RoleAssignment]:
        return list(self._by_name.values())

    def get(self, name: str) -> RoleAssignment | None:
        return self._by_name.get(name.lower())

    def put(self, assignment: RoleAssignment) -> None:
        self._by_name[assignment.name.lower()] = assignment
        self._store.put(self.KIND, assignment.name.lower(), asdict(assignment))
        self._version += 1

    def remove(self, name: str) -> RoleAssignment | None:
        removed = self._by_name.pop(name.lower(), None)
        if removed is not None:
            self._store.delete(self.KIND, name.lower())
            self._version += 1
        return removed

    def remove_at_or_below(self, scope: str) -> list[RoleAssignment]:
        doomed = [a for a in self._by_name.values() if scope_contains(scope, a.scope)]
        for assignment in doomed:
            self.remove(assignment.name)
        return doomed

    def for_principal(self, principal_id: str) -> Iterable[RoleAssignment]:
        principal = principal_id.lower()
        return (a for a in self._by_name.values() if a.principal_id.lower() == principal)

    def find(self, scope: str, principal_id: str, role_definition_id: str) -> RoleAssignment | None:
        wanted_role = role_definition_id.rsplit("/", 1)[-1].lower()
        for assignment in self.for_principal(principal_id):
            if (
                normalize_scope(assignment.scope) == normalize_scope(scope)
                and assignment.role_definition_id.rsplit("/", 1)[-1].lower() == wanted_role
            ):
                return assignment
        return None

    def allows_data_action(self, principal_id: str, action: str, resource: str) -> bool:
        """Does any effective assignment at or above ``resource`` grant ``action``?

        A conditioned assignment grants only where its condition holds; the
        attributes a data-plane condition may read (the secret's name) come from
        ``resource`` alone, so the cached decision per resource stays right.
        """
        key = (principal_id, action, resource)
        cached = self._decisions.get(key)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        now = time.time()
        pending = False
        allowed = False
        for assignment in self.for_principal(principal_id):
            role = assignment.role
            if role is None or not scope_contains(assignment.scope, resource):
                continue
            if not role.allows_data_action(action):
                continue
            if assignment.condition and not condition_allows(
                assignment.condition, action, _resource_attributes(resource)
            ):
                continue
            if assignment.effective_at > now:
                pending = True
                continue
            allowed = True
            break
        if not pending:  # a pending grant must be re-checked until it takes effect
            if len(self._decisions) > 100_000:
                self._decisions.clear()
            self._decisions[key] = (self._version, allowed)
        return allowed

    def allows_action(
        self,
        principal_id: str,
        action: str,
        resource: str,
        *,
        unconditional: bool = False,
        attributes: Attributes | None = None,
    ) -> bool:
        """Control-plane check: does an assignment at or above grant ``action``?

        ``unconditional`` counts only assignments without an ABAC condition, as
        Azure does where it asks for *unrestricted* permission. Otherwise a
        conditioned assignment counts where its condition holds for ``action``
        and the request's ``attributes`` (e.g. the role definition a role
        assignment write asks for).
        """
        for assignment in self.for_principal(principal_id):
            role = assignment.role
            if unconditional and assignment.condition:
                continue
            if (
                role is not None
                and scope_contains(assignment.scope, resource)
                and role.allows_action(action)
                and (
                    not assignment.condition
                    or condition_allows(assignment.condition, action, attributes or {})
                )
            ):
                return True
        return False


def _resource_attributes(resource: str) -> Attributes:
    """What a data-plane condition may read about ``resource``: the secret's name."""
    found = _SECRET_IN_RESOURCE.search(resource)
    return {SECRET_NAME: (found.group("name"),)} if found else {}


# -- Resource Manager's rules for role assignments --------------------------------------
# \Z, not $: a trailing newline ("GUID\n") is no GUID.
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")


def check_assignment_name(name: str) -> None:
    if not GUID.match(name):
        raise BadRequest(
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
            code="InvalidRoleAssignmentId",
        )


def check_principal(
    principal_id: str,
    principal_type: str | None,
    *,
    actual_type: str | None,
    replicated: bool,
    tenant_id: str,
) -> str:
    """Azure's principal checks; returns the principal type to store.

    ``actual_type`` is the directory's type for the principal (None: unknown).
    ``replicated`` is False while a new principal has not reached Resource
    Manager's replica of the directory; Azure then only accepts the assignment
    when the caller states ``principalType`` (it skips the lookup).
    """
    if not GUID.match(principal_id):
        raise BadRequest(
            "A valid principal ID must be provided for role assignment.", code="InvalidPrincipalId"
        )
    if principal_type is not None and principal_type not in PRINCIPAL_TYPES:
        raise BadRequest(
            f"The principal type '{principal_type}' is not valid. Valid values are: "
            f"{', '.join(PRINCIPAL_TYPES)}.",
            code="InvalidPrincipalType",  # guessed: the exact code is undocumented
        )
    not_found = BadRequest(
        f"Principal {principal_id.replace('-', '')} does not exist in the directory {tenant_id}. "
        "Check that you have the correct principal ID. If you are creating this principal and "
        "then immediately assigning a role, this error might be related to a replication "
        "delay. In this case, set the role assignment principalType property to a value, such "
        "as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
        code="PrincipalNotFound",
    )
    if actual_type is None:
        raise not_found
    if principal_type is None:
        if not replicated:
            raise not_found
        return actual_type
    if principal_type != actual_type:
        raise BadRequest(
            f"The PrincipalId '{principal_id.replace('-', '')}' has type '{actual_type}' , which "
            f"is different from specified PrincipalType '{principal_type}'.",
            code="UnmatchedPrincipalType",
        )
    return principal_type


def check_condition(
    condition: str | None, condition_version: str | None
) -> tuple[str | None, str | None]:
    """The condition and version to store, or 400 for one Azure would refuse.

    Azure documents that a condition sent without ``conditionVersion`` gets
    ``2.0``, the only version it supports; another version, or a condition that
    does not parse, is answered "The given role assignment condition is
    invalid." (the documented message; the error code is guessed).
    """
    if condition is None or condition == "":
        return None, None
    version = "2.0" if condition_version is None else condition_version
    try:
        if version != "2.0":
            raise ConditionSyntaxError(f"condition version {version!r}")
        parse_condition(condition)
    except ConditionSyntaxError:
        raise BadRequest(
            "The given role assignment condition is invalid.",
            code="InvalidConditionExpression",  # guessed: the service's code is undocumented
        ) from None
    return condition, version


def _role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def assignment_subscription(scope: str) -> str | None:
    parts = scope.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    return None


def resolve_role_definition_id(role_definition_id: str, scope: str) -> str:
    """The stored role definition id, or 400 ``RoleDefinitionDoesNotExist``."""
    guid = _role_guid(role_definition_id)
    if not role_definition_id.strip() or role_by_id(guid) is None:
        raise BadRequest(
            f"The specified role definition with ID '{guid.replace('-', '')}' does not exist.",
            code="RoleDefinitionDoesNotExist",
        )
    subscription = assignment_subscription(scope)
    prefix = f"/subscriptions/{subscription}" if subscription else ""
    return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def put_assignment(
    store: RoleAssignments,
    *,
    name: str,
    scope: str,
    role_definition_id: str,
    principal_id: str,
    principal_type: str,
    description: str | None,
    condition: str | None,
    condition_version: str | None,
    caller: str,
    propagation_delay_s: float,
    now: float | None = None,
) -> tuple[RoleAssignment, bool]:
    """Create or update an assignment with Azure's rules; returns (assignment, created).

    The same name with the same principal, role and scope is an update (only
    the description and condition may change). The same name for another
    principal, scope or role is ``RoleAssignmentUpdateNotPermitted``; the same
    principal, role and scope under another name is ``RoleAssignmentExists``.
    """
    now = time.time() if now is None else now
    condition, condition_version = check_condition(condition, condition_version)
    existing = store.get(name)
    if existing is not None:
        same_target = (
            normalize_scope(existing.scope) == normalize_scope(scope)
            and existing.principal_id.lower() == principal_id.lower()
        )
        # Azure's message names tenant, application, principal and scope; a changed
        # role is refused the same way (guessed: the service answers likewise).
        if not same_target or _role_guid(existing.role_definition_id) != _role_guid(
            role_definition_id
        ):
            raise BadRequest(
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                code="RoleAssignmentUpdateNotPermitted",
            )
        wanted: dict[str, Any] = {
            "description": description,
            "condition": condition,
            "condition_version": condition_version if condition else None,
        }
        if all(getattr(existing, key) == value for key, value in wanted.items()):
            return existing, False
        updated = replace(existing, updated_on=now, updated_by=caller, **wanted)
        store.put(updated)
        return updated, False
    duplicate = store.find(scope, principal_id, role_definition_id)
    if duplicate is not None:
        raise Conflict(
            "The role assignment already exists. The ID of the existing role assignment is "
            f"{duplicate.name.replace('-', '')}.",
            code="RoleAssignmentExists",
        )
    assignment = RoleAssignment(
        name=name.lower(),
        scope=scope,
        role_definition_id=role_definition_id,
        principal_id=principal_id.lower(),
        principal_type=principal_type,
        created_on=now,
        updated_on=now,
        created_by=caller,
        updated_by=caller,
        description=description,
        effective_at=now + propagation_delay_s,
        condition=condition,
        condition_version=condition_version if condition else None,
    )
    store.put(assignment)
    return assignment, True


def effective_permissions(
    store: RoleAssignments, principal_id: str, scope: str
) -> list[tuple[RoleAssignment, RoleDefinition]]:
    """What the permissions API answers a caller at ``scope``.

    One entry per role assignment of the caller at or above the scope (the
    broadest scope first), each with its role definition, as Azure lists them:
    duplicates are not merged, and each entry's ``notActions`` only subtract
    from its own ``actions``. Assignments still propagating count, as they do
    for Resource Manager's own checks (:meth:`RoleAssignments.allows_action`);
    group membership is not modelled.
    """
    found = [
        (assignment, role)
        for assignment in store.for_principal(principal_id)
        if (role := assignment.role) is not None and scope_contains(assignment.scope, scope)
    ]
    return sorted(found, key=lambda pair: (len(normalize_scope(pair[0].scope)), pair[0].name))


def list_for_scope(
    store: RoleAssignments,
    scope: str,
    *,
    at_scope: bool = False,
    principal_id: str | None = None,
) -> list[RoleAssignment]:
    """Assignments Azure lists for a scope: at, above and (unless ``at_scope``) below it."""
    result = []
    for assignment in store.all():
        if principal_id is not None and assignment.principal_id.lower() != principal_id.lower():
            continue
        above_or_at = scope_contains(assignment.scope, scope)
        below = scope_contains(scope, assignment.scope)
        if above_or_at or (below and not at_scope):
            result.append(assignment)
    return sorted(result, key=lambda a: (normalize_scope(a.scope), a.name))
