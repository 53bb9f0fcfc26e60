"""The deploying identity's rights, checked at plan time, before any write.

A deployer that may create the vault but not role assignments (a
Contributor) would otherwise find out half-way through apply: the vault
written, the first role assignment refused. So the plan works out which
Resource Manager actions its changes need (:func:`needs_of`, pure), asks
Azure's permissions API what the signed-in identity may do at the vault (or,
before the vault exists, its resource group) scope (:func:`read_permissions`),
and refuses the plan for every action that is not granted (:func:`refusals`,
pure), with the hints apply-time failures already give.

Azure's rule for an action: granted when some entry lists it in ``actions``
(``*`` matches anything, case-insensitively) and that same entry does not
list it in ``notActions``; a ``notAction`` only subtracts from its own entry,
so Contributor's ``Microsoft.Authorization/*/Write`` does not cancel an
Owner assignment elsewhere.

The check is advisory in one direction only: when it cannot be made (the
permissions API denied or failed, or the resource group does not exist yet,
so no scope to ask about), the plan carries on with a warning and a missing
right surfaces at apply time as before. Not modelled: deny assignments, and
ABAC conditions (api-version 2022-04-01 does not return them; Azure wants an
unconditioned ``roleAssignments/write`` to change ``enableRbacAuthorization``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, HttpResponseError

from keyvault_platform.core.plan import Action, Diagnostic
from keyvault_platform.provision.role_assignments import NO_RIGHTS_HINT, AssignmentPlan
from keyvault_platform.provision.vault import VAULT_RIGHTS_HINT, VaultPlan, error_code

if TYPE_CHECKING:
    from azure.mgmt.authorization import AuthorizationManagementClient

ROLE_ASSIGNMENTS_WRITE = "Microsoft.Authorization/roleAssignments/write"
ROLE_ASSIGNMENTS_DELETE = "Microsoft.Authorization/roleAssignments/delete"
VAULTS_WRITE = "Microsoft.KeyVault/vaults/write"
RESOURCE_GROUPS_WRITE = "Microsoft.Resources/subscriptions/resourceGroups/write"


@lru_cache(maxsize=256)
def _pattern(permission: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in permission.split("*"))
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE)


def action_matches(action: str, permission: str) -> bool:
    """Does ``permission`` (an entry of ``actions`` or ``notActions``) cover ``action``?"""
    return _pattern(permission).match(action) is not None


@dataclass(frozen=True)
class PermissionEntry:
    """One entry of the permissions API: a role assignment's actions and notActions."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        return any(action_matches(action, p) for p in self.actions) and not any(
            action_matches(action, p) for p in self.not_actions
        )

    @classmethod
    def from_sdk(cls, permission: Any) -> PermissionEntry:
        return cls(
            actions=tuple(permission.actions or ()),
            not_actions=tuple(permission.not_actions or ()),
        )


@dataclass(frozen=True)
class Permissions:
    """What the deploying identity may do at one scope."""

    label: str  # "resource group rg-x" or "vault kv-x", for messages
    entries: tuple[PermissionEntry, ...] = ()

    def allows(self, action: str) -> bool:
        return any(entry.allows(action) for entry in self.entries)


@dataclass(frozen=True)
class Need:
    """An action the plan's changes need, what for, and what to do without it."""

    action: str
    doing: str  # "create role assignments"
    addresses: tuple[str, ...]
    hint: str


def needs_of(
    *,
    resource_group_action: Action,
    resource_group_address: str,
    vault: VaultPlan,
    assignments: AssignmentPlan | None,
) -> list[Need]:
    """The Resource Manager actions the planned changes need; pure.

    A resource group that is to be created is left out: it has no scope to
    ask about yet (creating it needs rights on the subscription).
    """
    needs: list[Need] = []
    if resource_group_action is Action.UPDATE:
        needs.append(
            Need(
                RESOURCE_GROUPS_WRITE,
                "update the resource group's tags",
                (resource_group_address,),
                "the deploying identity needs Contributor (or Owner) on the resource group; "
                "or set resource_group.create: false to leave the group as it is",
            )
        )
    change = vault.change
    if change.action in (Action.CREATE, Action.UPDATE, Action.RECOVER):
        verb = {
            Action.CREATE: "create",
            Action.UPDATE: "update",
            Action.RECOVER: "recover",
        }[change.action]
        needs.append(Need(VAULTS_WRITE, f"{verb} the vault", (change.address,), VAULT_RIGHTS_HINT))
    if change.action is Action.UPDATE and "rbac_authorization" in vault.changed_fields:
        needs.append(
            Need(
                ROLE_ASSIGNMENTS_WRITE,
                "change the vault's RBAC authorization setting",
                (change.address,),
                f"{NO_RIGHTS_HINT}; Azure asks the same (unconditioned) right to change "
                "enableRbacAuthorization",
            )
        )
    if assignments is not None and assignments.creates:
        needs.append(
            Need(
                ROLE_ASSIGNMENTS_WRITE,
                "create role assignments",
                tuple(item.address for item in assignments.creates),
                NO_RIGHTS_HINT,
            )
        )
    if assignments is not None and assignments.deletes:
        needs.append(
            Need(
                ROLE_ASSIGNMENTS_DELETE,
                "delete role assignments",
                tuple(f"role_assignment.undeclared-{s.name}" for s in assignments.deletes),
                NO_RIGHTS_HINT.replace("create", "delete"),
            )
        )
    return needs


def refusals(needs: Iterable[Need], permissions: Permissions) -> list[Diagnostic]:
    """One error per needed action that ``permissions`` does not grant; pure."""
    found = []
    for need in needs:
        if permissions.allows(need.action):
            continue
        found.append(
            Diagnostic(
                "error",
                f"the deploying identity may not {need.doing} (no {need.action} on "
                f"{permissions.label})",
                f"{need.hint}.\nNeeded for: {', '.join(need.addresses)}.\nChecked with "
                "Azure's permissions API before any write; nothing was changed.",
                need.addresses[0],
            )
        )
    return found


class PermissionsUnavailable(Exception):
    """The permissions API could not answer; the reason is safe to print."""


def read_permissions(
    client: AuthorizationManagementClient, resource_group: str, *, vault: str | None
) -> Permissions:
    """The signed-in identity's permissions at the vault, or at its resource group.

    Raises :class:`PermissionsUnavailable` when Azure denies or fails the request.
    """
    try:
        if vault is None:
            found = client.permissions.list_for_resource_group(resource_group)
            label = f"resource group {resource_group}"
        else:
            found = client.permissions.list_for_resource(
                resource_group, "Microsoft.KeyVault", "", "vaults", vault
            )
            label = f"vault {vault}"
        entries = tuple(PermissionEntry.from_sdk(p) for p in found)
    except HttpResponseError as exc:
        raise PermissionsUnavailable(f"{exc.status_code} {error_code(exc)}".strip()) from None
    except AzureError as exc:
        text = str(exc).strip()
        raise PermissionsUnavailable(text.splitlines()[0] if text else type(exc).__name__) from None
    return Permissions(label=label, entries=entries)


def unavailable_warning(reason: str, address: str) -> Diagnostic:
    return Diagnostic(
        "warning",
        f"could not check the deploying identity's permissions before writing ({reason})",
        "The plan goes ahead; a missing right (e.g. to create role assignments) will be "
        "reported when applying, after the changes before it were made.",
        address,
    )
