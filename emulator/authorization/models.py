"""Role assignments and the access decisions they drive (no HTTP here)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..persistence import Store
from .roles import RoleDefinition, role_by_id


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
        """Does any effective assignment at or above ``resource`` grant ``action``?"""
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

    def allows_action(self, principal_id: str, action: str, resource: str) -> bool:
        """Control-plane check: does an assignment at or above grant ``action``?"""
        for assignment in self.for_principal(principal_id):
            role = assignment.role
            if (
                role is not None
                and scope_contains(assignment.scope, resource)
                and (role.allows_action(action))
            ):
                return True
        return False
