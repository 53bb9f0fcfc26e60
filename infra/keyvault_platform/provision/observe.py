"""Read what provisioning compares against: resource group, vault, grants (GETs only)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
)

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.plan import Diagnostic
from keyvault_platform.core.saved_plan import record
from keyvault_platform.provision import permissions as rights
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.target.base import Target

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


def planned_against(env: Environment, observed: Observed) -> dict[str, dict[str, Any]]:
    """What a provisioning plan read, as saved-plan records (one per thing read).

    The resource group, the vault (or the soft-deleted one, or that the name
    is free), the role definitions named by the file, and each role
    assignment at the vault's scopes. The deploying identity's permissions
    are not state: the apply asks Azure again when it writes.
    """
    records: dict[str, dict[str, Any]] = {
        f"resource_group.{env.resource_group.name}": record(
            exists=observed.resource_group is not None,
            _state=_plain(observed.resource_group),
        ),
        vaults.address(env.vault): record(
            exists=observed.vault is not None,
            soft_deleted=observed.deleted_vault is not None,
            _state=_plain(observed.vault),
            _deleted=_plain(observed.deleted_vault),
            _name_available=observed.name_available,
        ),
        "role_definitions": record(
            _roles=_plain(dict(sorted(observed.roles.items()))),
            _unknown=sorted(observed.unknown_roles),
            _names=dict(sorted(observed.role_names.items())),
        ),
    }
    for assignment in sorted(observed.assignments, key=lambda a: a.id.lower()):
        records[f"role_assignment_id.{assignment.name}"] = record(
            scope=assignment.scope, _state=_plain(assignment)
        )
    return records


def _plain(value: Any) -> Any:
    """A dataclass (or a dict of them) as plain data, for a digest."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
