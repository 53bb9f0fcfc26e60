"""The vault: read its actual state, diff it with the file, build ARM requests.

Pure core (no I/O): :class:`VaultState` and :class:`DeletedVaultState` are
normalised snapshots of what ARM returned; :func:`plan_vault` compares them
with a :class:`~keyvault_platform.config.environment.VaultSpec` field by field and returns the
change plus any refusals; :func:`create_parameters` and
:func:`patch_parameters` build the SDK request models.

Thin I/O shell: :func:`read_vault`, :func:`read_deleted_vault`,
:func:`name_available` and the ``apply_*`` functions call
``azure-mgmt-keyvault`` and map its errors to actionable ones.

Refused at plan time (before any write): turning purge protection off,
changing soft-delete retention days, turning RBAC authorization off or
creating a vault without it, moving location or tenant, a name held by a
soft-deleted vault under policy ``fail`` (or in another resource group).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from keyvault_platform.config.environment import NetworkAcls, VaultSpec, normalize_ip_rule
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff

if TYPE_CHECKING:
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import (
        DeletedVault,
        Vault,
        VaultCreateOrUpdateParameters,
        VaultPatchParameters,
    )

log = logging.getLogger(__name__)

# Without a state file a difference cannot be attributed: Azure may have been
# changed out of band, or the file edited. Say exactly that (no drift claim).
DIFFERS = "Azure differs from the environment file"

# Azure's defaults for properties a vault may omit (API 2026-05-15).
AZURE_DEFAULT_RETENTION_DAYS = 90


@dataclass(frozen=True)
class VaultState:
    """A vault as ARM describes it, normalised for comparison."""

    name: str
    id: str
    location: str
    tenant_id: str
    sku: str
    soft_delete: bool
    soft_delete_retention_days: int
    purge_protection: bool
    rbac_authorization: bool
    public_network_access: str
    network_acls: NetworkAcls
    tags: Mapping[str, str] = field(default_factory=dict)
    access_policy_count: int = 0
    vault_uri: str | None = None

    @classmethod
    def from_sdk(cls, vault: Vault) -> VaultState:
        props = vault.properties
        acls = props.network_acls
        return cls(
            name=str(vault.name),
            id=str(vault.id),
            location=_location(vault.location),
            tenant_id=str(props.tenant_id or "").lower(),
            sku=_text(getattr(props.sku, "name", None), "standard").lower(),
            # Soft delete has been on by default (and mandatory) since 2020.
            soft_delete=props.enable_soft_delete is not False,
            soft_delete_retention_days=int(
                props.soft_delete_retention_in_days or AZURE_DEFAULT_RETENTION_DAYS
            ),
            purge_protection=bool(props.enable_purge_protection),
            rbac_authorization=bool(props.enable_rbac_authorization),
            public_network_access=_text(props.public_network_access, "Enabled"),
            network_acls=NetworkAcls(
                default_action=_text(getattr(acls, "default_action", None), "Allow"),  # type: ignore[arg-type]
                bypass=_text(getattr(acls, "bypass", None), "AzureServices"),  # type: ignore[arg-type]
                ip_rules=tuple(
                    sorted(
                        normalize_ip_rule(r.value) for r in (getattr(acls, "ip_rules", None) or [])
                    )
                ),
                virtual_network_rules=tuple(
                    sorted(
                        str(r.id).lower()
                        for r in (getattr(acls, "virtual_network_rules", None) or [])
                    )
                ),
            ),
            tags=dict(vault.tags or {}),
            access_policy_count=len(props.access_policies or []),
            vault_uri=props.vault_uri,
        )


@dataclass(frozen=True)
class DeletedVaultState:
    """A soft-deleted vault holding the name."""

    name: str
    vault_id: str
    location: str
    deletion_date: dt.datetime | None
    scheduled_purge_date: dt.datetime | None
    purge_protection: bool
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_sdk(cls, deleted: DeletedVault) -> DeletedVaultState:
        props = deleted.properties
        return cls(
            name=str(deleted.name),
            vault_id=str(getattr(props, "vault_id", "") or ""),
            location=_location(getattr(props, "location", "")),
            deletion_date=getattr(props, "deletion_date", None),
            scheduled_purge_date=getattr(props, "scheduled_purge_date", None),
            purge_protection=bool(getattr(props, "purge_protection_enabled", False)),
            tags=dict(getattr(props, "tags", None) or {}),
        )

    def dates(self) -> str:
        return (
            f"deleted {_date(self.deletion_date)}, "
            f"scheduled for purge {_date(self.scheduled_purge_date)}"
        )


def _text(value: Any, default: str) -> str:
    """An SDK string-or-enum as plain text (``str()`` of an enum gives its class name)."""
    if value is None or value == "":
        return default
    return str(getattr(value, "value", value))


def _location(value: Any) -> str:
    return str(value or "").replace(" ", "").lower()


def _date(value: dt.datetime | None) -> str:
    if value is None:
        return "(unknown)"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------
# Desired state as comparable fields

# Fields in plan order. Each maps to one vault property.
FIELDS = (
    "location",
    "tenant_id",
    "sku",
    "soft_delete",
    "soft_delete_retention_days",
    "purge_protection",
    "rbac_authorization",
    "public_network_access",
    "network_acls.default_action",
    "network_acls.bypass",
    "network_acls.ip_rules",
    "network_acls.virtual_network_rules",
    "tags",
)


def desired_fields(spec: VaultSpec, tenant_id: str) -> dict[str, Any]:
    return {
        "location": spec.location,
        "tenant_id": tenant_id.lower(),
        "sku": spec.sku,
        "soft_delete": True,
        "soft_delete_retention_days": spec.soft_delete_retention_days,
        "purge_protection": spec.purge_protection,
        "rbac_authorization": spec.rbac_authorization,
        "public_network_access": spec.public_network_access,
        "network_acls.default_action": spec.network_acls.default_action,
        "network_acls.bypass": spec.network_acls.bypass,
        "network_acls.ip_rules": list(spec.network_acls.ip_rules),
        "network_acls.virtual_network_rules": list(spec.network_acls.virtual_network_rules),
        "tags": dict(spec.tags),
    }


def actual_fields(state: VaultState) -> dict[str, Any]:
    return {
        "location": state.location,
        "tenant_id": state.tenant_id,
        "sku": state.sku,
        "soft_delete": state.soft_delete,
        "soft_delete_retention_days": state.soft_delete_retention_days,
        "purge_protection": state.purge_protection,
        "rbac_authorization": state.rbac_authorization,
        "public_network_access": state.public_network_access,
        "network_acls.default_action": state.network_acls.default_action,
        "network_acls.bypass": state.network_acls.bypass,
        "network_acls.ip_rules": list(state.network_acls.ip_rules),
        "network_acls.virtual_network_rules": list(state.network_acls.virtual_network_rules),
        "tags": dict(state.tags),
    }


# Where each field is set in the environment file, for error positions.
SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "location": ("vault", "location"),
    "tenant_id": ("tenant_id",),
    "sku": ("vault", "sku"),
    "soft_delete_retention_days": ("vault", "soft_delete_retention_days"),
    "purge_protection": ("vault", "purge_protection"),
    "rbac_authorization": ("vault", "rbac_authorization"),
    "public_network_access": ("vault", "public_network_access"),
    "tags": ("vault", "tags"),
}


@dataclass(frozen=True)
class VaultPlan:
    """The vault's part of a plan: its change, refusals, and what apply needs.

    ``converge`` is the update that follows a recover (``None`` otherwise,
    or when the recovered vault's known settings match the file); its
    fields are ``changed_fields``. For an update, ``changed_fields`` are the
    change's own.
    """

    change: Change
    diagnostics: tuple[Diagnostic, ...] = ()
    changed_fields: tuple[str, ...] = ()
    actual: VaultState | None = None
    deleted: DeletedVaultState | None = None
    converge: Change | None = None

    @property
    def changes(self) -> tuple[Change, ...]:
        """The plan's changes for the vault, in the order they apply."""
        return (self.change,) if self.converge is None else (self.change, self.converge)


def address(spec: VaultSpec) -> str:
    return f"vault.{spec.name}"


def settings_address(spec: VaultSpec) -> str:
    """The address of the update that converges a recovered vault's settings.

    Its own address, not a second change at ``vault.NAME``: a plan holds one
    change per address (so pipelines can key changes by it and the summary
    counts each once), and these really are two changes, applied one after
    the other: the recover (counted as recovered) and the update that
    follows it (counted as changed), each shown with its own fields and
    each reported on its own; the update can fail or be refused while the
    recover stands.
    """
    return f"vault_settings.{spec.name}"


def plan_vault(
    spec: VaultSpec,
    *,
    tenant_id: str,
    resource_group_id: str,
    actual: VaultState | None,
    deleted: DeletedVaultState | None,
    name_available: bool | None = None,
    where: Mapping[str, str] | None = None,
) -> VaultPlan:
    """Compare the file with Azure; pure.

    A soft-deleted vault under ``on_soft_deleted: recover`` plans two
    changes: the recover, and (see :func:`settings_address`) the update of
    what the deleted vault shows to differ from the file.

    ``where`` maps field names to "file:line:col" strings for messages.
    ``name_available`` is the global name check (None: not checked).
    """
    addr = address(spec)
    where = where or {}
    desired = desired_fields(spec, tenant_id)

    def at(field_name: str) -> str:
        spot = where.get(field_name)
        return f" (set at {spot})" if spot else ""

    if actual is not None:
        current = actual_fields(actual)
        diffs = [
            FieldDiff(name, current[name], desired[name])
            for name in FIELDS
            if current[name] != desired[name]
        ]
        errors: list[Diagnostic] = []
        warnings: list[Diagnostic] = []
        changed = {d.name for d in diffs}
        if "location" in changed:
            errors.append(
                Diagnostic(
                    "error",
                    f"the vault is in {actual.location}; a vault cannot move to "
                    f"{spec.location}{at('location')}",
                    "Set vault.location to the vault's location, or create a new vault "
                    "under another name.",
                    addr,
                )
            )
        if "tenant_id" in changed:
            errors.append(
                Diagnostic(
                    "error",
                    f"the vault belongs to tenant {actual.tenant_id}, not {tenant_id}"
                    f"{at('tenant_id')}",
                    "Moving a vault between tenants is not done by this tool; check the "
                    "environment file's tenant_id.",
                    addr,
                )
            )
        if actual.purge_protection and not spec.purge_protection:
            errors.append(
                Diagnostic(
                    "error",
                    f"purge protection cannot be turned off{at('purge_protection')}",
                    "Azure makes purge protection irreversible once enabled. Set "
                    "vault.purge_protection: true.",
                    addr,
                )
            )
        if "soft_delete_retention_days" in changed and actual.soft_delete:
            errors.append(
                Diagnostic(
                    "error",
                    "soft-delete retention cannot change once set: the vault keeps "
                    f"{actual.soft_delete_retention_days} days, the file asks for "
                    f"{spec.soft_delete_retention_days}{at('soft_delete_retention_days')}",
                    f"Set vault.soft_delete_retention_days to {actual.soft_delete_retention_days}.",
                    addr,
                )
            )
        if actual.rbac_authorization and not spec.rbac_authorization:
            errors.append(
                Diagnostic(
                    "error",
                    f"RBAC authorization cannot be turned off{at('rbac_authorization')}",
                    "Turning it off would switch the vault to access policies, which this "
                    "tool does not manage, and drop every role-based grant. Set "
                    "vault.rbac_authorization: true.",
                    addr,
                )
            )
        if actual.access_policy_count and spec.rbac_authorization:
            warnings.append(
                Diagnostic(
                    "warning",
                    f"the vault has {actual.access_policy_count} access policies; they are "
                    "ignored while RBAC authorization is on",
                    None,
                    addr,
                )
            )
        if not diffs:
            change = Change(addr, Action.NO_OP)
        else:
            change = Change(
                addr,
                Action.UPDATE,
                tuple(diffs),
                reason=DIFFERS,
            )
        return VaultPlan(
            change=change,
            diagnostics=(*errors, *warnings),
            changed_fields=tuple(d.name for d in diffs),
            actual=actual,
        )

    if deleted is not None:
        return _plan_deleted(spec, addr, desired, deleted, resource_group_id, at)

    errors = []
    if not spec.rbac_authorization:
        errors.append(
            Diagnostic(
                "error",
                f"a vault without RBAC authorization is not supported{at('rbac_authorization')}",
                "This tool grants access with Azure role assignments only (no access "
                "policies). Set vault.rbac_authorization: true.",
                addr,
            )
        )
    if name_available is False:
        errors.append(
            Diagnostic(
                "error",
                f"the vault name {spec.name!r} is already taken",
                "Vault names are globally unique across Azure. It may belong to another "
                "subscription or resource group, or be a soft-deleted vault in another "
                "location (`az keyvault list-deleted`). Choose another vault.name.",
                addr,
            )
        )
    diffs = [FieldDiff(name, ABSENT, desired[name]) for name in FIELDS]
    return VaultPlan(
        change=Change(addr, Action.CREATE, tuple(diffs)),
        diagnostics=tuple(errors),
        changed_fields=FIELDS,
    )


def _plan_deleted(
    spec: VaultSpec,
    addr: str,
    desired: dict[str, Any],
    deleted: DeletedVaultState,
    resource_group_id: str,
    at: Any,
) -> VaultPlan:
    note = f"a soft-deleted vault holds the name ({deleted.dates()})"
    if spec.on_soft_deleted == "fail":
        return VaultPlan(
            change=Change(addr, Action.CREATE, notes=(note,)),
            diagnostics=(
                Diagnostic(
                    "error",
                    f"the name {spec.name!r} is held by a soft-deleted vault, scheduled for "
                    f"purge {_date(deleted.scheduled_purge_date)}",
                    f"It was deleted {_date(deleted.deletion_date)}"
                    + (
                        " and is purge-protected, so it cannot be purged early"
                        if deleted.purge_protection
                        else ""
                    )
                    + ". Set vault.on_soft_deleted: recover to bring it back (with its "
                    "secrets), or choose another vault.name.",
                    addr,
                ),
            ),
            deleted=deleted,
        )
    original_group = deleted.vault_id.lower().split("/providers/")[0]
    errors = []
    if deleted.vault_id and original_group != resource_group_id.lower():
        errors.append(
            Diagnostic(
                "error",
                f"the soft-deleted vault {spec.name!r} belongs to {original_group}, not to "
                f"{resource_group_id}",
                "Recovery restores a vault into its original resource group. Point the "
                "environment file at that resource group, or choose another vault.name.",
                addr,
            )
        )
    if deleted.location and deleted.location != spec.location:
        errors.append(
            Diagnostic(
                "error",
                f"the soft-deleted vault is in {deleted.location}, the file says "
                f"{spec.location}{at('location')}",
                "A recovered vault keeps its location; set vault.location to match.",
                addr,
            )
        )
    if deleted.purge_protection and not spec.purge_protection:
        errors.append(
            Diagnostic(
                "error",
                f"purge protection cannot be turned off{at('purge_protection')}",
                "The soft-deleted vault has purge protection, which is irreversible.",
                addr,
            )
        )
    # Recovery restores the vault as it was (Azure ignores the PUT's other
    # properties), so whatever differs from the file is a second change, an
    # update after the recover, planned from what the deleted vault shows.
    diffs = []
    if deleted.purge_protection != spec.purge_protection:
        diffs.append(FieldDiff("purge_protection", deleted.purge_protection, spec.purge_protection))
    if dict(deleted.tags) != desired["tags"]:
        diffs.append(FieldDiff("tags", dict(deleted.tags), desired["tags"]))
    # DeletedVaultProperties (API 2026-05-15) carry location, tags and purge
    # protection only; the other settings are known once the vault is back.
    notes = (
        note,
        "recovery restores the vault and its secrets but not its role assignments; "
        "they are re-created below",
        "a soft-deleted vault shows only its location, tags and purge protection: its "
        "other settings are read back after the recover, and if they differ from the "
        "file nothing unplanned is changed: a re-run plans that update",
    )
    converge = None
    if diffs:
        converge = Change(
            settings_address(spec),
            Action.UPDATE,
            tuple(diffs),
            reason=f"the soft-deleted vault differs from the environment file; "
            f"updated after the recover of {addr}",
        )
    return VaultPlan(
        change=Change(
            addr,
            Action.RECOVER,
            reason=f"on_soft_deleted: recover; {deleted.dates()}",
            notes=notes,
        ),
        diagnostics=tuple(errors),
        changed_fields=tuple(d.name for d in diffs),
        deleted=deleted,
        converge=converge,
    )


def unplanned_fields(
    spec: VaultSpec, tenant_id: str, recovered: VaultState, planned: tuple[str, ...]
) -> tuple[str, ...]:
    """Fields in which a recovered vault differs from the file that the plan did not show."""
    current = actual_fields(recovered)
    desired = desired_fields(spec, tenant_id)
    return tuple(f for f in FIELDS if current[f] != desired[f] and f not in planned)


# --------------------------------------------------------------------------
# Request models


def _network_rule_set(acls: NetworkAcls) -> Any:
    from azure.mgmt.keyvault.models import IPRule, NetworkRuleSet, VirtualNetworkRule

    return NetworkRuleSet(
        bypass=acls.bypass,
        default_action=acls.default_action,
        ip_rules=[IPRule(value=r) for r in acls.ip_rules],
        virtual_network_rules=[VirtualNetworkRule(id=r) for r in acls.virtual_network_rules],
    )


def create_parameters(
    spec: VaultSpec, tenant_id: str, *, recover: bool = False
) -> VaultCreateOrUpdateParameters:
    """The PUT body for a new vault (or a recovery): every safety setting explicit."""
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties

    properties = VaultProperties(
        tenant_id=tenant_id,
        sku=Sku(family="A", name=spec.sku),
        access_policies=[],
        enable_soft_delete=True,
        soft_delete_retention_in_days=spec.soft_delete_retention_days,
        enable_rbac_authorization=spec.rbac_authorization,
        # Azure refuses an explicit false (purge protection is one-way): omit it.
        enable_purge_protection=True if spec.purge_protection else None,
        public_network_access=spec.public_network_access,
        network_acls=_network_rule_set(spec.network_acls),
        create_mode="recover" if recover else None,
    )
    return VaultCreateOrUpdateParameters(
        location=spec.location, tags=dict(spec.tags), properties=properties
    )


def patch_parameters(spec: VaultSpec, fields: tuple[str, ...]) -> VaultPatchParameters:
    """A PATCH body carrying only ``fields`` (names from :data:`FIELDS`).

    RBAC authorization is always sent, so the request states it explicitly.
    """
    from azure.mgmt.keyvault.models import Sku, VaultPatchParameters, VaultPatchProperties

    wanted = set(fields)
    props: dict[str, Any] = {"enable_rbac_authorization": spec.rbac_authorization}
    if "sku" in wanted:
        props["sku"] = Sku(family="A", name=spec.sku)
    if "soft_delete" in wanted:
        props["enable_soft_delete"] = True
    if "purge_protection" in wanted and spec.purge_protection:
        props["enable_purge_protection"] = True
    if "public_network_access" in wanted:
        props["public_network_access"] = spec.public_network_access
    if any(f.startswith("network_acls.") for f in wanted):
        props["network_acls"] = _network_rule_set(spec.network_acls)
    return VaultPatchParameters(
        tags=dict(spec.tags) if "tags" in wanted else None,
        properties=VaultPatchProperties(**props),
    )


# --------------------------------------------------------------------------
# I/O


def read_vault(
    client: KeyVaultManagementClient, resource_group: str, name: str
) -> VaultState | None:
    try:
        return VaultState.from_sdk(client.vaults.get(resource_group, name))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        raise arm_error(exc, doing=f"read vault {name!r}", address=f"vault.{name}") from None


def read_deleted_vault(
    client: KeyVaultManagementClient, name: str, location: str
) -> DeletedVaultState | None:
    try:
        return DeletedVaultState.from_sdk(client.vaults.get_deleted(name, location))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        raise arm_error(
            exc, doing=f"read deleted vault {name!r}", address=f"vault.{name}"
        ) from None


def name_available(client: KeyVaultManagementClient, name: str) -> bool:
    from azure.mgmt.keyvault.models import VaultCheckNameAvailabilityParameters

    try:
        result = client.vaults.check_name_availability(
            VaultCheckNameAvailabilityParameters(name=name)  # type is fixed by the model
        )
    except HttpResponseError as exc:
        raise arm_error(exc, doing=f"check the name {name!r}", address=f"vault.{name}") from None
    return bool(result.name_available)


def apply_create(
    client: KeyVaultManagementClient,
    resource_group: str,
    spec: VaultSpec,
    tenant_id: str,
    *,
    recover: bool = False,
) -> VaultState:
    """PUT the vault (create, or recover a soft-deleted one) and wait for it."""
    verb = "recover" if recover else "create"
    log.info("%s vault %s", verb, spec.name)
    try:
        poller = client.vaults.begin_create_or_update(
            resource_group, spec.name, create_parameters(spec, tenant_id, recover=recover)
        )
        return VaultState.from_sdk(poller.result())
    except HttpResponseError as exc:
        raise arm_error(exc, doing=f"{verb} vault {spec.name!r}", address=address(spec)) from None


def apply_update(
    client: KeyVaultManagementClient,
    resource_group: str,
    spec: VaultSpec,
    fields: tuple[str, ...],
) -> VaultState:
    """PATCH only the fields that differ."""
    log.info("update vault %s: %s", spec.name, ", ".join(fields))
    try:
        vault = client.vaults.update(resource_group, spec.name, patch_parameters(spec, fields))
        return VaultState.from_sdk(vault)
    except HttpResponseError as exc:
        raise arm_error(exc, doing=f"update vault {spec.name!r}", address=address(spec)) from None


# --------------------------------------------------------------------------
# Errors

VAULT_RIGHTS_HINT = (
    "the deploying identity needs Contributor (or Owner) on the resource group to manage the vault"
)

_HINTS = {
    "AuthorizationFailed": (
        f"{VAULT_RIGHTS_HINT}, and User Access Administrator (or Owner) to create role assignments"
    ),
    "VaultAlreadyExists": "vault names are globally unique; choose another vault.name",
    "ConflictError": "vault names are globally unique; choose another vault.name",
    "VaultNameNotValid": (
        "vault names are 3-24 letters, digits and hyphens, start with a letter, end with "
        "a letter or digit and have no '--'"
    ),
    "QuotaExceeded": "a subscription quota was reached; raise it or remove unused resources",
    "TooManyRequests": "Azure throttled the requests after the SDK's retries; run again later",
    "ResourceGroupNotFound": "create the resource group, or set resource_group.create: true",
    "InvalidAuthenticationTokenTenant": (
        "the token is from another tenant than the subscription's: set tenant_id in the "
        "environment file, or sign in to that tenant (`az login --tenant <tenant id>`)"
    ),
    "SubscriptionNotFound": "check subscription_id and that the identity can see it",
    "MissingSubscriptionRegistration": (
        "register the resource provider: `az provider register -n Microsoft.KeyVault`"
    ),
}


def error_code(exc: HttpResponseError) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    if not code and exc.status_code == 429:
        return "TooManyRequests"
    return str(code or "")


class AccessDenied(ActionableError):
    """ARM answered 403: the deploying identity lacks a right."""


def arm_error(exc: HttpResponseError, *, doing: str, address: str | None = None) -> ActionableError:
    """Turn an ARM failure into a message that says what to do."""
    code = error_code(exc)
    message = getattr(getattr(exc, "error", None), "message", None) or str(exc).splitlines()[0]
    status = exc.status_code
    hint = _HINTS.get(code)
    if hint is None and status == 403:
        hint = _HINTS["AuthorizationFailed"]
    if hint is None and status == 429:
        hint = _HINTS["TooManyRequests"]
    cls = AccessDenied if status == 403 else ActionableError
    return cls(
        f"could not {doing}: {status} {code}: {message}".replace(": :", ":"),
        hint=hint,
        address=address,
    )
