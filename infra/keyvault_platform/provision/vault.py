"""The vault: read its actual state, diff it with the file, build ARM requests.

Pure core (no I/O): :class:`VaultState` and :class:`DeletedVaultState` are
normalised snapshots of what ARM returned; :func:`plan_vault` compares them
with a :class:`~keyvault_platform.config.environment.VaultSpec` field by field and returns the
change plus any refusals; :func:`create_parameters` and
:func:`patch_parameters` build the SDK request models.

Thin I/O shell: :func:`read_vault`, :func:`read_deleted_vault`,
:func:`name_available` and the ``apply_*`` functions call
``azure-mgmt-keyvault`` and map its errors to actionable ones.

**Planning** follows tables, which are data (:data:`NAME_RULES` and
:data:`FIELD_RULES`; rendered here by :func:`render_rules`, and a test keeps
this text equal to it). First, who holds the vault's name (the vault in the
resource group, else a soft-deleted vault, else nobody):

=============================  ===============  ===============  ==================================
name held by                   on_soft_deleted  purge-protected  then
=============================  ===============  ===============  ==================================
nobody                         -                -                create: the create rules
a vault in the resource group  -                -                update: the update rules
a soft-deleted vault           fail             yes              create, error: the name {name!r}
                                                                 is held by a soft-deleted vault,
                                                                 scheduled for purge {purge_date};
                                                                 "It was deleted {deletion_date}
                                                                 and is purge-protected, so it
                                                                 cannot be purged early. Set
                                                                 vault.on_soft_deleted: recover to
                                                                 bring it back (with its secrets),
                                                                 or choose another vault.name."
a soft-deleted vault           fail             no               create, error: the name {name!r}
                                                                 is held by a soft-deleted vault,
                                                                 scheduled for purge {purge_date};
                                                                 "It was deleted {deletion_date}.
                                                                 Set vault.on_soft_deleted: recover
                                                                 to bring it back (with its
                                                                 secrets), or choose another
                                                                 vault.name."
a soft-deleted vault           recover          -                recover: the recover rules
=============================  ===============  ===============  ==================================

Then each difference between Azure and the file goes through the table its
row names, one row each. For a new vault every field differs (from unset),
and the name does when the global name check says it is taken; a soft-deleted
vault shows only its resource group, location, tags and purge protection, and
whatever it does not show is not a difference. *when*: a switch the file
turns off (for a new vault: sets off) or on, or whether the vault keeps
soft-deleted items; ``-``: either. *planned*: the difference is a field of
the planned change (a refused one too: the plan shows what it would do, and
refuses it); ``{old}`` is Azure's value, ``{new}`` the file's, ``{at}`` where
the file sets it. Any error refuses the whole plan, before any write; the
errors come in the order of the rows.

==================  ==========  =======  ==========================================================
create: differs     when        planned  then
==================  ==========  =======  ==========================================================
rbac_authorization  turned off  yes      error: a vault without RBAC authorization is not
                                         supported{at}
name                -           no       error: the vault name {name!r} is already taken
rbac_authorization  turned on   yes      create
any other field     -           yes      create
==================  ==========  =======  ==========================================================

==========================  ===============  =======  =============================================
update: differs             when             planned  then
==========================  ===============  =======  =============================================
location                    -                yes      error: the vault is in {old}; a vault cannot
                                                      move to {new}{at}
tenant_id                   -                yes      error: the vault belongs to tenant {old}, not
                                                      {new}{at}
purge_protection            turned off       yes      error: purge protection cannot be turned
                                                      off{at}
soft_delete_retention_days  soft delete on   yes      error: soft-delete retention cannot change
                                                      once set: the vault keeps {old} days, the
                                                      file asks for {new}{at}
rbac_authorization          turned off       yes      error: RBAC authorization cannot be turned
                                                      off{at}
purge_protection            turned on        yes      update in place
soft_delete_retention_days  soft delete off  yes      update in place
rbac_authorization          turned on        yes      update in place
any other field             -                yes      update in place
==========================  ===============  =======  =============================================

================  ==========  =======  ============================================================
recover: differs  when        planned  then
================  ==========  =======  ============================================================
resource_group    -           no       error: the soft-deleted vault {name!r} belongs to {old}, not
                                       to {new}
location          -           no       error: the soft-deleted vault is in {old}, the file says
                                       {new}{at}
purge_protection  turned off  yes      error: purge protection cannot be turned off{at}
purge_protection  turned on   yes      update vault_settings.NAME after the recover
tags              -           yes      update vault_settings.NAME after the recover
================  ==========  =======  ============================================================

A vault in the resource group that has access policies while the file keeps
RBAC authorization on also gets a warning: the policies are ignored.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from keyvault_platform.config.environment import (
    NetworkAcls,
    OnSoftDeleted,
    VaultSpec,
    normalize_ip_rule,
)
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import ABSENT, Action, Change, Diagnostic, FieldDiff
from keyvault_platform.core.tables import rst_table
from keyvault_platform.target.failures import Kind, Plane, classify, first_line, hint

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


# --------------------------------------------------------------------------
# The rules: who holds the name, then what differs


class Holder(enum.Enum):
    """What holds the vault's name (a vault in the resource group is looked at first)."""

    NOBODY = "nobody"
    VAULT = "a vault in the resource group"
    SOFT_DELETED = "a soft-deleted vault"


@dataclass(frozen=True)
class Refusal:
    """An error that refuses the plan: templates for its summary and its hint.

    The field rules' name ``{name}`` (the vault's), ``{old}`` (Azure's value),
    ``{new}`` (the file's, as written) and ``{at}`` (" (set at FILE:LINE:COL)"
    where the file sets the field, or nothing); the name rules' name
    ``{name}``, ``{deletion_date}`` and ``{purge_date}``.
    """

    summary: str
    hint: str

    def diagnostic(self, address: str, **values: Any) -> Diagnostic:
        return Diagnostic(
            "error", self.summary.format(**values), self.hint.format(**values), address
        )


@dataclass(frozen=True)
class Holding:
    """What the name rules look at."""

    holder: Holder
    on_soft_deleted: OnSoftDeleted
    purge_protected: bool  # the soft-deleted vault has purge protection


@dataclass(frozen=True)
class Difference:
    """What the field rules look at: one thing in which Azure differs from the file."""

    subject: str  # a field of FIELDS, "resource_group" or "name"
    turns_off: bool = False  # a switch on in Azure (or unset, for a new vault) is off in the file
    soft_delete: bool = False  # the vault has soft delete on, which fixes its retention


#: The subject of a field rule for every field its table does not name.
OTHER_FIELDS = "*"


@dataclass(frozen=True)
class FieldRule:
    """One row of a :class:`FieldRules` table; ``None`` matches either.

    ``planned``: the difference is a field of the planned change (a refused
    one too: the plan shows what it would do, and refuses it).
    """

    subject: str
    planned: bool = True
    refusal: Refusal | None = None
    turns_off: bool | None = None
    soft_delete: bool | None = None

    def matches(self, seen: Difference) -> bool:
        """Whether the row's conditions hold for ``seen`` (its subject aside)."""
        return self.turns_off in (None, seen.turns_off) and self.soft_delete in (
            None,
            seen.soft_delete,
        )


@dataclass(frozen=True)
class FieldRules:
    """A rule table over ``subjects``: exactly one row applies to each difference.

    A row whose subject is :data:`OTHER_FIELDS` stands for every subject no
    other row names. The plan lists its errors in the order of the rows.
    """

    name: str
    subjects: tuple[str, ...]
    rows: tuple[FieldRule, ...]
    planned_as: str  # what a row that is planned and not refused does

    def rule_for(self, seen: Difference) -> FieldRule:
        """The one row that applies to ``seen``."""
        named = seen.subject in {r.subject for r in self.rows}
        subject = seen.subject if named else OTHER_FIELDS
        rules = [r for r in self.rows if r.subject == subject and r.matches(seen)]
        if seen.subject not in self.subjects or len(rules) != 1:
            # The table is wrong, not the input: a unit test goes through every case.
            raise LookupError(f"{len(rules)} {self.name} rules apply to {seen}")
        return rules[0]


@dataclass(frozen=True)
class NameRule:
    """One row of :data:`NAME_RULES`: who holds the name, and what the plan does.

    ``fields`` is the table that goes on from there; ``refusal`` refuses the
    plan instead. ``None`` conditions match either.
    """

    holder: Holder
    action: Action
    fields: FieldRules | None = None
    refusal: Refusal | None = None
    on_soft_deleted: OnSoftDeleted | None = None
    purge_protected: bool | None = None

    def applies(self, seen: Holding) -> bool:
        return (
            self.holder is seen.holder
            and self.on_soft_deleted in (None, seen.on_soft_deleted)
            and self.purge_protected in (None, seen.purge_protected)
        )


_PURGE_PROTECTION_OFF = "purge protection cannot be turned off{at}"

UPDATE_RULES = FieldRules(
    "update",
    FIELDS,
    (
        FieldRule(
            "location",
            refusal=Refusal(
                "the vault is in {old}; a vault cannot move to {new}{at}",
                "Set vault.location to the vault's location, or create a new vault "
                "under another name.",
            ),
        ),
        FieldRule(
            "tenant_id",
            refusal=Refusal(
                "the vault belongs to tenant {old}, not {new}{at}",
                "Moving a vault between tenants is not done by this tool; check the "
                "environment file's tenant_id.",
            ),
        ),
        FieldRule(
            "purge_protection",
            turns_off=True,
            refusal=Refusal(
                _PURGE_PROTECTION_OFF,
                "Azure makes purge protection irreversible once enabled. Set "
                "vault.purge_protection: true.",
            ),
        ),
        FieldRule(
            "soft_delete_retention_days",
            soft_delete=True,
            refusal=Refusal(
                "soft-delete retention cannot change once set: the vault keeps {old} days, "
                "the file asks for {new}{at}",
                "Set vault.soft_delete_retention_days to {old}.",
            ),
        ),
        FieldRule(
            "rbac_authorization",
            turns_off=True,
            refusal=Refusal(
                "RBAC authorization cannot be turned off{at}",
                "Turning it off would switch the vault to access policies, which this "
                "tool does not manage, and drop every role-based grant. Set "
                "vault.rbac_authorization: true.",
            ),
        ),
        FieldRule("purge_protection", turns_off=False),
        FieldRule("soft_delete_retention_days", soft_delete=False),
        FieldRule("rbac_authorization", turns_off=False),
        FieldRule(OTHER_FIELDS),
    ),
    planned_as="update in place",
)

CREATE_RULES = FieldRules(
    "create",
    (*FIELDS, "name"),
    (
        FieldRule(
            "rbac_authorization",
            turns_off=True,
            refusal=Refusal(
                "a vault without RBAC authorization is not supported{at}",
                "This tool grants access with Azure role assignments only (no access "
                "policies). Set vault.rbac_authorization: true.",
            ),
        ),
        FieldRule(
            "name",
            planned=False,
            refusal=Refusal(
                "the vault name {name!r} is already taken",
                "Vault names are globally unique across Azure. It may belong to another "
                "subscription or resource group, or be a soft-deleted vault in another "
                "location (`az keyvault list-deleted`). Choose another vault.name.",
            ),
        ),
        FieldRule("rbac_authorization", turns_off=False),
        FieldRule(OTHER_FIELDS),
    ),
    planned_as="create",
)

# DeletedVaultProperties (API 2026-05-15) carry location, tags and purge
# protection only: these are what a recover can be planned from.
RECOVER_RULES = FieldRules(
    "recover",
    ("resource_group", "location", "purge_protection", "tags"),
    (
        FieldRule(
            "resource_group",
            planned=False,
            refusal=Refusal(
                "the soft-deleted vault {name!r} belongs to {old}, not to {new}",
                "Recovery restores a vault into its original resource group. Point the "
                "environment file at that resource group, or choose another vault.name.",
            ),
        ),
        FieldRule(
            "location",
            planned=False,
            refusal=Refusal(
                "the soft-deleted vault is in {old}, the file says {new}{at}",
                "A recovered vault keeps its location; set vault.location to match.",
            ),
        ),
        FieldRule(
            "purge_protection",
            turns_off=True,
            refusal=Refusal(
                _PURGE_PROTECTION_OFF,
                "The soft-deleted vault has purge protection, which is irreversible.",
            ),
        ),
        FieldRule("purge_protection", turns_off=False),
        FieldRule("tags"),
    ),
    planned_as="update vault_settings.NAME after the recover",
)

_HELD = "the name {name!r} is held by a soft-deleted vault, scheduled for purge {purge_date}"
_RECOVER_OR_RENAME = (
    ". Set vault.on_soft_deleted: recover to bring it back (with its secrets), or "
    "choose another vault.name."
)

#: Exactly one row applies to every holding (a unit test goes through them all).
NAME_RULES: tuple[NameRule, ...] = (
    NameRule(Holder.NOBODY, Action.CREATE, fields=CREATE_RULES),
    NameRule(Holder.VAULT, Action.UPDATE, fields=UPDATE_RULES),
    NameRule(
        Holder.SOFT_DELETED,
        Action.CREATE,
        on_soft_deleted="fail",
        purge_protected=True,
        refusal=Refusal(
            _HELD,
            "It was deleted {deletion_date} and is purge-protected, so it cannot be purged "
            "early" + _RECOVER_OR_RENAME,
        ),
    ),
    NameRule(
        Holder.SOFT_DELETED,
        Action.CREATE,
        on_soft_deleted="fail",
        purge_protected=False,
        refusal=Refusal(_HELD, "It was deleted {deletion_date}" + _RECOVER_OR_RENAME),
    ),
    NameRule(Holder.SOFT_DELETED, Action.RECOVER, on_soft_deleted="recover", fields=RECOVER_RULES),
)


#: The field rule tables, in the order the docstring shows them.
FIELD_RULES = (CREATE_RULES, UPDATE_RULES, RECOVER_RULES)


def name_rule(seen: Holding) -> NameRule:
    """The one row of :data:`NAME_RULES` that applies to ``seen``."""
    rules = [r for r in NAME_RULES if r.applies(seen)]
    if len(rules) != 1:  # the table is wrong, not the input: a unit test goes through all
        raise LookupError(f"{len(rules)} name rules apply to {seen}")
    return rules[0]


def holding_of(
    spec: VaultSpec, actual: VaultState | None, deleted: DeletedVaultState | None
) -> Holding:
    """Who holds the name: a vault in the resource group first, then a soft-deleted one."""
    if actual is not None:
        holder = Holder.VAULT
    elif deleted is not None:
        holder = Holder.SOFT_DELETED
    else:
        holder = Holder.NOBODY
    protected = deleted is not None and deleted.purge_protection
    return Holding(holder, spec.on_soft_deleted, protected)


def _turns_off(new: Any) -> bool:
    """Whether a difference turns a switch off: it differs, so Azure has it on (or unset)."""
    return new is False


# What the rules compare: each difference, and the field it makes (its values
# are the messages' ``old`` and ``new``).
Found = tuple[Difference, FieldDiff]


def create_differences(spec: VaultSpec, tenant_id: str, name_available: bool | None) -> list[Found]:
    """A new vault: every field is set; the name counts when the name check says taken."""
    desired = desired_fields(spec, tenant_id)
    found = [
        (Difference(f, turns_off=_turns_off(desired[f])), FieldDiff(f, ABSENT, desired[f]))
        for f in FIELDS
    ]
    if name_available is False:
        found.append((Difference("name"), FieldDiff("name", ABSENT, spec.name)))
    return found


def update_differences(spec: VaultSpec, tenant_id: str, actual: VaultState) -> list[Found]:
    """The fields in which a vault in the resource group differs from the file."""
    current = actual_fields(actual)
    desired = desired_fields(spec, tenant_id)
    return [
        (
            Difference(f, _turns_off(desired[f]), actual.soft_delete),
            FieldDiff(f, current[f], desired[f]),
        )
        for f in FIELDS
        if current[f] != desired[f]
    ]


def recover_differences(
    spec: VaultSpec, resource_group_id: str, deleted: DeletedVaultState
) -> list[Found]:
    """What a soft-deleted vault shows to differ from the file (an unknown value does not)."""
    found: list[Found] = []
    original_group = deleted.vault_id.lower().split("/providers/")[0]
    if deleted.vault_id and original_group != resource_group_id.lower():
        diff = FieldDiff("resource_group", original_group, resource_group_id)
        found.append((Difference("resource_group"), diff))
    if deleted.location and deleted.location != spec.location:
        found.append(
            (Difference("location"), FieldDiff("location", deleted.location, spec.location))
        )
    if deleted.purge_protection != spec.purge_protection:
        diff = FieldDiff("purge_protection", deleted.purge_protection, spec.purge_protection)
        found.append((Difference("purge_protection", _turns_off(diff.new)), diff))
    if dict(deleted.tags) != dict(spec.tags):
        found.append((Difference("tags"), FieldDiff("tags", dict(deleted.tags), dict(spec.tags))))
    return found


@dataclass(frozen=True)
class _Ruled:
    fields: tuple[FieldDiff, ...]  # the planned ones, in the order found
    errors: tuple[Diagnostic, ...]  # in the order of the table's rows


def _apply_rules(
    table: FieldRules,
    found: list[Found],
    spec: VaultSpec,
    where: Mapping[str, str],
    quoted: Mapping[str, Any] | None = None,
) -> _Ruled:
    """Each difference through its row; ``quoted`` overrides the file's values in messages."""
    quoted = quoted or {}
    ruled = [(table.rule_for(seen), seen, diff) for seen, diff in found]
    errors = []
    for rule, seen, diff in sorted(ruled, key=lambda r: table.rows.index(r[0])):
        if rule.refusal is not None:
            spot = where.get(seen.subject)
            errors.append(
                rule.refusal.diagnostic(
                    address(spec),
                    name=spec.name,
                    old=diff.old,
                    new=quoted.get(seen.subject, diff.new),
                    at=f" (set at {spot})" if spot else "",
                )
            )
    return _Ruled(tuple(diff for rule, _, diff in ruled if rule.planned), tuple(errors))


# --------------------------------------------------------------------------
# Planning


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
    """Compare the file with Azure by :data:`NAME_RULES`, then the rule table it names; pure.

    A soft-deleted vault under ``on_soft_deleted: recover`` plans two
    changes: the recover, and (see :func:`settings_address`) the update of
    what the deleted vault shows to differ from the file.

    ``where`` maps field names to "file:line:col" strings for messages.
    ``name_available`` is the global name check (None: not checked).
    """
    where = where or {}
    rule = name_rule(holding_of(spec, actual, deleted))
    if rule.refusal is not None:
        assert deleted is not None
        return _plan_refused(spec, rule, rule.refusal, deleted)
    assert rule.fields is not None
    match rule.holder:
        case Holder.NOBODY:
            return _plan_create(spec, rule, rule.fields, tenant_id, name_available, where)
        case Holder.VAULT:
            assert actual is not None
            return _plan_update(spec, rule, rule.fields, tenant_id, actual, where)
        case Holder.SOFT_DELETED:
            assert deleted is not None
            return _plan_recover(spec, rule, rule.fields, resource_group_id, deleted, where)
        case _:
            assert_never(rule.holder)


def _plan_create(
    spec: VaultSpec,
    rule: NameRule,
    table: FieldRules,
    tenant_id: str,
    name_available: bool | None,
    where: Mapping[str, str],
) -> VaultPlan:
    ruled = _apply_rules(table, create_differences(spec, tenant_id, name_available), spec, where)
    return VaultPlan(
        change=Change(address(spec), rule.action, ruled.fields),
        diagnostics=ruled.errors,
        changed_fields=tuple(d.name for d in ruled.fields),
    )


def _plan_update(
    spec: VaultSpec,
    rule: NameRule,
    table: FieldRules,
    tenant_id: str,
    actual: VaultState,
    where: Mapping[str, str],
) -> VaultPlan:
    addr = address(spec)
    # Messages quote the tenant as given; it is compared in lower case.
    found = update_differences(spec, tenant_id, actual)
    ruled = _apply_rules(table, found, spec, where, quoted={"tenant_id": tenant_id})
    warnings = []
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
    if ruled.fields:
        change = Change(addr, rule.action, ruled.fields, reason=DIFFERS)
    else:
        change = Change(addr, Action.NO_OP)
    return VaultPlan(
        change=change,
        diagnostics=(*ruled.errors, *warnings),
        changed_fields=tuple(d.name for d in ruled.fields),
        actual=actual,
    )


def _plan_refused(
    spec: VaultSpec, rule: NameRule, refusal: Refusal, deleted: DeletedVaultState
) -> VaultPlan:
    addr = address(spec)
    note = f"a soft-deleted vault holds the name ({deleted.dates()})"
    error = refusal.diagnostic(
        addr,
        name=spec.name,
        deletion_date=_date(deleted.deletion_date),
        purge_date=_date(deleted.scheduled_purge_date),
    )
    return VaultPlan(
        change=Change(addr, rule.action, notes=(note,)), diagnostics=(error,), deleted=deleted
    )


def _plan_recover(
    spec: VaultSpec,
    rule: NameRule,
    table: FieldRules,
    resource_group_id: str,
    deleted: DeletedVaultState,
    where: Mapping[str, str],
) -> VaultPlan:
    addr = address(spec)
    # Recovery restores the vault as it was (Azure ignores the PUT's other
    # properties), so whatever differs from the file is a second change, an
    # update after the recover, planned from what the deleted vault shows.
    ruled = _apply_rules(table, recover_differences(spec, resource_group_id, deleted), spec, where)
    notes = (
        f"a soft-deleted vault holds the name ({deleted.dates()})",
        "recovery restores the vault and its secrets but not its role assignments; "
        "they are re-created below",
        "a soft-deleted vault shows only its location, tags and purge protection: its "
        "other settings are read back after the recover, and if they differ from the "
        "file nothing unplanned is changed: a re-run plans that update",
    )
    converge = None
    if ruled.fields:
        converge = Change(
            settings_address(spec),
            Action.UPDATE,
            ruled.fields,
            reason=f"the soft-deleted vault differs from the environment file; "
            f"updated after the recover of {addr}",
        )
    return VaultPlan(
        change=Change(
            addr,
            rule.action,
            reason=f"on_soft_deleted: recover; {deleted.dates()}",
            notes=notes,
        ),
        diagnostics=ruled.errors,
        changed_fields=tuple(d.name for d in ruled.fields),
        deleted=deleted,
        converge=converge,
    )


# --------------------------------------------------------------------------
# The rules as the module docstring shows them


def render_rules() -> str:
    """:data:`NAME_RULES` and the field rule tables as reStructuredText (the docstring's)."""

    def either(flag: bool | None, yes: str = "yes", no: str = "no") -> str:
        return "-" if flag is None else (yes if flag else no)

    holders = []
    for rule in NAME_RULES:
        then = rule.action.value
        if rule.fields is not None:
            then += f": the {rule.fields.name} rules"
        if rule.refusal is not None:
            then += f', error: {rule.refusal.summary}; "{rule.refusal.hint}"'
        holders.append(
            (rule.holder.value, rule.on_soft_deleted or "-", either(rule.purge_protected), then)
        )
    tables = [rst_table(("name held by", "on_soft_deleted", "purge-protected", "then"), holders)]
    for table in FIELD_RULES:
        rows = []
        for row in table.rows:
            when = [
                *(
                    [either(row.turns_off, "turned off", "turned on")]
                    if row.turns_off is not None
                    else []
                ),
                *(
                    [either(row.soft_delete, "soft delete on", "soft delete off")]
                    if row.soft_delete is not None
                    else []
                ),
            ]
            rows.append(
                (
                    "any other field" if row.subject == OTHER_FIELDS else row.subject,
                    ", ".join(when) or "-",
                    either(row.planned),
                    f"error: {row.refusal.summary}" if row.refusal else table.planned_as,
                )
            )
        tables.append(rst_table((f"{table.name}: differs", "when", "planned", "then"), rows))
    return "\n\n".join(tables)


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


#: Seconds between polls of a vault still being created (``RegisteringDns``)
#: when Resource Manager sends no ``Retry-After``. The SDK's default, 30 s,
#: suits long operations; a vault's DNS registration takes seconds, and the
#: role assignments wait on it.
VAULT_POLL_INTERVAL_S = 2.0


def apply_create(
    client: KeyVaultManagementClient,
    resource_group: str,
    spec: VaultSpec,
    tenant_id: str,
    *,
    recover: bool = False,
    polling_interval_s: float = VAULT_POLL_INTERVAL_S,
) -> VaultState:
    """PUT the vault (create, or recover a soft-deleted one) and wait until it is Succeeded.

    A new vault may first answer ``provisioningState: RegisteringDns``; the
    SDK's poller then reads the vault until it is ``Succeeded``, every
    ``polling_interval_s`` (or as ``Retry-After`` says).
    """
    verb = "recover" if recover else "create"
    log.info("%s vault %s", verb, spec.name)
    try:
        poller = client.vaults.begin_create_or_update(
            resource_group,
            spec.name,
            create_parameters(spec, tenant_id, recover=recover),
            polling_interval=polling_interval_s,
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


def error_code(exc: HttpResponseError) -> str:
    """The error code Resource Manager sent (``TooManyRequests`` for a bare 429)."""
    return classify(exc).code


class AccessDenied(ActionableError):
    """ARM answered 403: the deploying identity lacks a right."""


def arm_error(exc: HttpResponseError, *, doing: str, address: str | None = None) -> ActionableError:
    """Turn an ARM failure into a message that says what to do (the hint table's)."""
    failure = classify(exc)
    remedy = hint(Plane.ARM, failure)
    if failure.kind is Kind.NOT_SIGNED_IN:
        return ActionableError(
            f"could not {doing}: could not sign in: {failure.message}",
            hint=remedy,
            address=address,
        )
    message = failure.message or first_line(exc)
    cls = AccessDenied if failure.status == 403 else ActionableError
    return cls(
        f"could not {doing}: {failure.status} {failure.code}: {message}".replace(": :", ":"),
        hint=remedy,
        address=address,
    )
