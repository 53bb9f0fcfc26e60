"""Resource Manager's state and rules: resource groups, vaults, deleted vaults.

No HTTP or JSON here. Vault ``properties`` are kept in ARM's wire shape
(camelCase) because that is how :class:`~emulator.keyvault.models.Vault`
stores them; this module decides what may go in them. Error codes and
messages are Azure's where known; where the service's exact words are not
documented the code says so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..authorization.models import GUID, normalize_scope
from ..errors import AzureError, BadRequest, Conflict, NotFound
from ..keyvault.firewall import check_network_settings
from ..keyvault.models import Vault, printable
from ..persistence import Store
from ..state import World

VAULT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")
RETENTION_MIN_DAYS = 7
RETENTION_MAX_DAYS = 90
MAX_ACCESS_POLICIES = 1024
MAX_TAGS = 50
SKU_NAMES = ("standard", "premium")
CREATE_MODES = ("default", "recover")
# Vault properties a caller may set (everything else is computed or read-only).
SETTABLE = (
    "tenantId",
    "sku",
    "accessPolicies",
    "enabledForDeployment",
    "enabledForDiskEncryption",
    "enabledForTemplateDeployment",
    "enableSoftDelete",
    "softDeleteRetentionInDays",
    "enableRbacAuthorization",
    "enablePurgeProtection",
    "networkAcls",
    "publicNetworkAccess",
)
BOOLEAN_PROPERTIES = (
    "enabledForDeployment",
    "enabledForDiskEncryption",
    "enabledForTemplateDeployment",
    "enableSoftDelete",
    "enableRbacAuthorization",
    "enablePurgeProtection",
)


def normalize_location(location: str) -> str:
    """ARM's canonical location: ``West Europe`` -> ``westeurope``."""
    return location.replace(" ", "").lower()


@dataclass
class ResourceGroup:
    subscription_id: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}"


class ResourceGroups:
    """Resource groups per subscription, written through to the state store."""

    KIND = "resource_group"

    def __init__(self, store: Store) -> None:
        self._store = store
        self._groups: dict[str, ResourceGroup] = {
            key: ResourceGroup(**data) for key, data in store.load(self.KIND)
        }

    @staticmethod
    def _key(subscription_id: str, name: str) -> str:
        return f"{subscription_id.lower()}/{name.lower()}"

    def get(self, subscription_id: str, name: str) -> ResourceGroup | None:
        return self._groups.get(self._key(subscription_id, name))

    def list(self, subscription_id: str) -> list[ResourceGroup]:
        prefix = f"{subscription_id.lower()}/"
        return sorted(
            (g for key, g in self._groups.items() if key.startswith(prefix)),
            key=lambda g: g.name.lower(),
        )

    def save(self, group: ResourceGroup) -> None:
        key = self._key(group.subscription_id, group.name)
        self._groups[key] = group
        self._store.put(self.KIND, key, asdict(group))

    def remove(self, group: ResourceGroup) -> None:
        key = self._key(group.subscription_id, group.name)
        self._groups.pop(key, None)
        self._store.delete(self.KIND, key)


@dataclass(frozen=True)
class Caller:
    """Who is calling Resource Manager (from the token)."""

    object_id: str
    client_id: str


def check_vault_name(name: str) -> None:
    # fullmatch: ``$`` would also match before a trailing newline ("kv\n").
    if not VAULT_NAME.fullmatch(name) or "--" in name:
        raise BadRequest(
            f"The vault name '{printable(name)}' is invalid. A vault's name must be between 3-24 "
            "alphanumeric characters. The name must begin with a letter, end with a letter or "
            "digit, and not contain consecutive hyphens. Follow this link for more information: "
            "https://go.microsoft.com/fwlink/?linkid=2147742",
            code="VaultNameNotValid",
        )


def _vault_name_in_use(name: str) -> Conflict:
    return Conflict(
        f"The vault name '{name}' is already in use. Vault names are globally unique so it is "
        "possible that the name is already taken. If you are sure that the vault name was not "
        "taken then it is possible that a vault with the same name was recently deleted but "
        "not purged after being placed in a recoverable state. If the vault is in a "
        "recoverable state then the vault will need to be purged before reusing the name. For "
        "more information on VaultAlreadyExists, soft delete and purging a vault follow this "
        "link https://go.microsoft.com/fwlink/?linkid=2147740.",
        code="VaultAlreadyExists",
    )


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="BadRequest")


def check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise BadRequest(
            "The tags must be an object of string names and string values.",
            code="InvalidRequestContent",
        )
    if len(tags) > MAX_TAGS:
        raise BadRequest(
            f"The resource has {len(tags)} tags; at most {MAX_TAGS} are allowed.",
            code="InvalidTag",
        )
    for key, value in tags.items():
        if not key or len(key) > 512 or len(value) > 256 or any(c in key for c in "<>%&\\?/"):
            raise BadRequest(
                f"The tag name '{key}' or its value is invalid. Tag names are limited to 512 "
                "characters and may not contain <, >, %, &, \\, ? or /; values to 256.",
                code="InvalidTagNameCharacters",
            )
    return dict(tags)


def _check_property_types(properties: dict[str, Any]) -> None:
    for name in BOOLEAN_PROPERTIES:
        value = properties.get(name)
        if value is not None and not isinstance(value, bool):
            raise BadRequest(
                f"The request content was invalid: 'properties.{name}' must be a boolean.",
                code="InvalidRequestContent",
            )
    tenant = properties.get("tenantId")
    if tenant is not None and (not isinstance(tenant, str) or not GUID.fullmatch(tenant)):
        raise _bad("The tenant ID of the vault must be a valid GUID.")
    sku = properties.get("sku")
    if sku is not None and (
        not isinstance(sku, dict)
        or sku.get("family") != "A"
        or str(sku.get("name", "")).lower() not in SKU_NAMES
    ):
        raise _bad(
            "The SKU of the vault is invalid: family must be 'A' and name 'standard' or 'premium'."
        )
    retention = properties.get("softDeleteRetentionInDays")
    if retention is not None and (
        isinstance(retention, bool)
        or not isinstance(retention, int)
        or not RETENTION_MIN_DAYS <= retention <= RETENTION_MAX_DAYS
    ):
        # Guessed wording; Azure documents the 7-90 range.
        raise _bad(
            f'The property "softDeleteRetentionInDays" must be an integer between '
            f"{RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS}; got {retention!r}."
        )
    policies = properties.get("accessPolicies")
    if policies is not None:
        if not isinstance(policies, list) or len(policies) > MAX_ACCESS_POLICIES:
            raise _bad(f"'accessPolicies' must be a list of at most {MAX_ACCESS_POLICIES} entries.")
        for index, entry in enumerate(policies):
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("objectId"), str)
                or not isinstance(entry.get("tenantId"), str)
                or not isinstance(entry.get("permissions"), dict)
            ):
                raise _bad("Each access policy needs 'tenantId', 'objectId' and 'permissions'.")
            _check_policy_identity(index, entry)
            for kind, granted in entry["permissions"].items():
                if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
                    raise _bad(f"Access policy permissions for '{kind}' must be a list of strings.")
    check_network_settings(properties)


def _check_policy_identity(index: int, entry: dict[str, Any]) -> None:
    """An access policy names its identity by GUIDs: tenant, object and (compound) application.

    Azure's form ("Invalid value found at accessPolicies[0].tenantId: ..."); the
    text after the value is the emulator's.
    """
    for key in ("tenantId", "objectId", "applicationId"):
        value = entry.get(key)
        if key == "applicationId" and value is None:
            continue
        if not isinstance(value, str) or not GUID.fullmatch(value):
            raise _bad(
                f"Invalid value found at accessPolicies[{index}].{key}: {value} (expected a GUID)"
            )


def _check_irreversible(properties: dict[str, Any]) -> None:
    if properties.get("enablePurgeProtection") is False:
        raise _bad(
            'The property "enablePurgeProtection" cannot be set to false. Enabling the purge '
            "protection for a vault is an irreversible action."
        )
    if properties.get("enableSoftDelete") is False:
        # Guessed wording, modelled on the purge-protection message: soft delete can
        # no longer be turned off (Azure, since February 2025, for every vault).
        raise _bad(
            'The property "enableSoftDelete" cannot be set to false. Enabling the soft delete '
            "for a vault is an irreversible action."
        )


class ResourceManager:
    """Resource groups and Key Vault vaults in every subscription of the emulator.

    ``can_write_role_assignments(caller, scope)`` answers whether the caller
    holds unrestricted ``roleAssignments/write`` there, which Azure requires to
    change ``enableRbacAuthorization``. ``on_live(vault)`` binds a vault's data
    plane and returns its port; ``on_gone(vault)`` releases it.
    """

    def __init__(
        self,
        world: World,
        *,
        on_live: Callable[[Vault], int],
        on_gone: Callable[[Vault], None] | None = None,
    ) -> None:
        self.world = world
        self.groups = ResourceGroups(world.store)
        self._on_live = on_live
        self._on_gone = on_gone or (lambda vault: None)

    # -- subscriptions and resource groups -------------------------------------------
    def check_subscription(self, subscription_id: str) -> str:
        for known in self.world.config.subscriptions:
            if known.lower() == subscription_id.lower():
                return known
        raise NotFound(
            f"The subscription '{subscription_id}' could not be found.", code="SubscriptionNotFound"
        )

    def resource_group(self, subscription_id: str, name: str) -> ResourceGroup:
        """An existing group, or 404 ``ResourceGroupNotFound``.

        Vaults declared by configuration or tests name a group without creating
        it; such a group springs into existence (in the vault's location) the
        first time Resource Manager is asked about it.
        """
        subscription_id = self.check_subscription(subscription_id)
        group = self.groups.get(subscription_id, name)
        if group is not None:
            return group
        for vault in self.world.vaults.values():
            if (
                vault.deleted_at is None
                and vault.subscription_id.lower() == subscription_id.lower()
                and vault.resource_group.lower() == name.lower()
            ):
                group = ResourceGroup(subscription_id, vault.resource_group, vault.location)
                self.groups.save(group)
                return group
        raise NotFound(f"Resource group '{name}' could not be found.", code="ResourceGroupNotFound")

    def list_resource_groups(self, subscription_id: str) -> list[ResourceGroup]:
        subscription_id = self.check_subscription(subscription_id)
        for vault in self.vaults_in(subscription_id):
            self.resource_group(subscription_id, vault.resource_group)
        return self.groups.list(subscription_id)

    def put_resource_group(
        self,
        subscription_id: str,
        name: str,
        *,
        location: Any,
        tags: Any,
        managed_by: Any = None,
    ) -> tuple[ResourceGroup, bool]:
        subscription_id = self.check_subscription(subscription_id)
        if not RESOURCE_GROUP_NAME.fullmatch(name) or name.endswith("."):
            raise BadRequest(
                f"Resource group name '{printable(name)}' is invalid. It can contain only "
                "alphanumeric characters, periods, underscores, hyphens and parentheses, may "
                "not end in a period, and is at most 90 characters long.",
                code="InvalidResourceGroupName",  # guessed wording
            )
        if not isinstance(location, str) or not location.strip():
            raise BadRequest(
                "The 'location' property is required for this definition.",
                code="LocationRequired",
            )
        checked_tags = check_tags(tags)
        location = normalize_location(location)
        try:
            existing: ResourceGroup | None = self.resource_group(subscription_id, name)
        except NotFound:
            existing = None
        if existing is not None:
            if existing.location != location:
                raise Conflict(
                    f"Invalid resource group location '{location}'. The Resource group already "
                    f"exists in location '{existing.location}'.",
                    code="InvalidResourceGroupLocation",
                )
            existing.tags = checked_tags
            if managed_by is not None:
                existing.managed_by = str(managed_by)
            self.groups.save(existing)
            return existing, False
        group = ResourceGroup(
            subscription_id,
            name,
            location,
            checked_tags,
            str(managed_by) if managed_by is not None else None,
        )
        self.groups.save(group)
        return group, True

    def patch_resource_group(self, subscription_id: str, name: str, tags: Any) -> ResourceGroup:
        group = self.resource_group(subscription_id, name)
        if tags is not None:
            group.tags = check_tags(tags)
            self.groups.save(group)
        return group

    def delete_resource_group(self, subscription_id: str, name: str) -> None:
        """Delete a group and what is in it: its vaults are soft-deleted."""
        group = self.resource_group(subscription_id, name)
        for vault in self.vaults_in(group.subscription_id, group.name):
            self.delete_vault(vault.subscription_id, vault.resource_group, vault.name)
        self.world.role_assignments.remove_at_or_below(group.id)
        self.groups.remove(group)

    # -- vaults ----------------------------------------------------------------------------
    def _settled(self, vault: Vault) -> Vault:
        """The vault, its DNS registration finished (and saved) once its time has come."""
        if vault.finish_provisioning(time.time()):
            self.world.save_vault(vault)
        return vault

    def vaults_in(self, subscription_id: str, resource_group: str | None = None) -> list[Vault]:
        return sorted(
            (
                self._settled(v)
                for v in self.world.vaults.values()
                if v.deleted_at is None
                and v.subscription_id.lower() == subscription_id.lower()
                and (resource_group is None or v.resource_group.lower() == resource_group.lower())
            ),
            key=lambda v: v.name.lower(),
        )

    def get_vault(self, subscription_id: str, resource_group: str, name: str) -> Vault:
        self.resource_group(subscription_id, resource_group)
        vault = self.world.vaults.get(name.lower())
        if (
            vault is None
            or vault.deleted_at is not None
            or vault.subscription_id.lower() != subscription_id.lower()
            or vault.resource_group.lower() != resource_group.lower()
        ):
            raise NotFound(
                f"The Resource 'Microsoft.KeyVault/vaults/{name}' under resource group "
                f"'{resource_group}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
                code="ResourceNotFound",
            )
        return self._settled(vault)

    def put_vault(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        location: Any,
        tags: Any,
        properties: Any,
        caller: Caller,
        rbac_default: bool,
        can_write_role_assignments: Callable[[str], bool],
    ) -> tuple[Vault, bool]:
        """Create, update (PUT replaces settable properties) or recover a vault.

        Returns the vault and whether it was created (or recovered): 201 vs 200.
        """
        subscription_id = self.check_subscription(subscription_id)
        group = self.resource_group(subscription_id, resource_group)
        check_vault_name(name)
        if not isinstance(location, str) or not location.strip():
            raise BadRequest(
                "The 'location' property is required for this definition.",
                code="LocationRequired",
            )
        if not isinstance(properties, dict):
            raise BadRequest(
                "The request content was invalid: 'properties' is required.",
                code="InvalidRequestContent",
            )
        location = normalize_location(location)
        checked_tags = check_tags(tags)
        create_mode = properties.get("createMode") or "default"
        if create_mode not in CREATE_MODES:
            raise _bad(f"The createMode '{create_mode}' is invalid; use 'default' or 'recover'.")
        _check_property_types(properties)
        _check_irreversible(properties)
        self._expire_deleted()
        existing = self.world.vaults.get(name.lower())
        if existing is not None:
            self._settled(existing)
        if create_mode == "recover":
            return self._recover(existing, subscription_id, group, name, location, caller), True
        if existing is not None and existing.deleted_at is not None:
            raise Conflict(
                "A vault with the same name already exists in deleted state. You need to either "
                "recover or purge existing key vault. Follow this link "
                "https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft "
                f"delete. (Deleted vault: '{existing.name}' in location '{existing.location}', "
                f"deleted from resource group '{existing.resource_group}'.)",
                code="ConflictError",
            )
        if existing is not None and (
            existing.subscription_id.lower() != subscription_id.lower()
            or existing.resource_group.lower() != resource_group.lower()
        ):
            raise _vault_name_in_use(name)
        for required in ("tenantId", "sku"):
            if properties.get(required) is None:
                raise BadRequest(
                    f"The request content was invalid: 'properties.{required}' is required.",
                    code="InvalidRequestContent",
                )
        wanted = {key: properties[key] for key in SETTABLE if properties.get(key) is not None}
        wanted["sku"] = {"family": "A", "name": str(wanted["sku"]["name"]).lower()}
        now = self.world.clock.now()
        if existing is None:
            wanted.setdefault("accessPolicies", [])
            if rbac_default:
                # Guessed: where the default is RBAC, Azure answers the value it chose.
                wanted.setdefault("enableRbacAuthorization", True)
            # Otherwise an unset flag stays absent, as in Azure's answer (the vault
            # then uses access policies: ``Vault.rbac_enabled`` is False).
            wanted.setdefault("softDeleteRetentionInDays", RETENTION_MAX_DAYS)
            wanted.setdefault("publicNetworkAccess", "Enabled")
            for flag in ("enabledForDeployment", "enabledForDiskEncryption"):
                wanted.setdefault(flag, False)
            wanted.setdefault("enabledForTemplateDeployment", False)
            wanted["enableSoftDelete"] = True
            wanted.setdefault("enablePurgeProtection", None)
            # Azure: a new vault answers RegisteringDns and is Succeeded later. Its
            # data plane serves at once here (guessed harmless: callers wait for
            # Succeeded, and the emulator's host needs no DNS).
            registering_s = self.world.config.vault_dns_registration_s
            wanted["provisioningState"] = "RegisteringDns" if registering_s > 0 else "Succeeded"
            vault = Vault(
                name=name,
                subscription_id=subscription_id,
                resource_group=group.name,
                location=location,
                properties=wanted,
                tags=checked_tags,
                created_at=now,
                created_by=caller.object_id,
                updated_at=now,
                updated_by=caller.object_id,
                dns_registered_at=now + registering_s if registering_s > 0 else None,
            )
            self.world.add_vault(vault)
            self._on_live(vault)
            return vault, True
        if existing.location != location:
            raise BadRequest(
                f"The resource '{name}' already exists in location '{existing.location}' in "
                f"resource group '{existing.resource_group}'. A resource with the same name "
                f"cannot be created in location '{location}'. Please select a new resource name.",
                code="InvalidResourceLocation",
            )
        # A PUT replaces what it can; omitted flags keep their value where Azure
        # keeps them (purge protection, RBAC mode, retention). Guessed for RBAC mode.
        merged = dict(existing.properties)
        for key in SETTABLE:
            if key in wanted:
                merged[key] = wanted[key]
            elif key in ("accessPolicies",):
                merged[key] = []
        self._apply_update(existing, merged, checked_tags, caller, can_write_role_assignments)
        return existing, False

    def patch_vault(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        tags: Any,
        properties: Any,
        caller: Caller,
        can_write_role_assignments: Callable[[str], bool],
    ) -> Vault:
        vault = self.get_vault(subscription_id, resource_group, name)
        properties = properties or {}
        if not isinstance(properties, dict):
            raise BadRequest(
                "The request content was invalid: 'properties' must be an object.",
                code="InvalidRequestContent",
            )
        _check_property_types(properties)
        _check_irreversible(properties)
        merged = dict(vault.properties)
        for key in SETTABLE:
            if properties.get(key) is not None:
                merged[key] = properties[key]
        if "sku" in properties and properties["sku"] is not None:
            merged["sku"] = {"family": "A", "name": str(properties["sku"]["name"]).lower()}
        new_tags = check_tags(tags) if tags is not None else vault.tags
        self._apply_update(vault, merged, new_tags, caller, can_write_role_assignments)
        return vault

    def update_access_policies(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        kind: str,
        policies: Any,
        caller: Caller,
    ) -> Vault:
        vault = self.get_vault(subscription_id, resource_group, name)
        if not isinstance(policies, list):
            raise BadRequest(
                "The request content was invalid: 'properties.accessPolicies' is required.",
                code="InvalidRequestContent",
            )
        merged = dict(vault.properties)
        merged["accessPolicies"] = merge_access_policies(vault.access_policies, policies, kind)
        self._apply_update(vault, merged, vault.tags, caller, lambda scope: True)
        return vault

    def _apply_update(
        self,
        vault: Vault,
        merged: dict[str, Any],
        tags: dict[str, str],
        caller: Caller,
        can_write_role_assignments: Callable[[str], bool],
    ) -> None:
        old = vault.properties
        if old.get("enablePurgeProtection") and not merged.get("enablePurgeProtection"):
            merged["enablePurgeProtection"] = True  # irreversible: omitted keeps it on
        if merged.get("softDeleteRetentionInDays") != old.get("softDeleteRetentionInDays"):
            # Guessed wording; Azure documents that the retention cannot change once set.
            raise _bad(
                'The property "softDeleteRetentionInDays" cannot be changed once it is set '
                f"(it is {old.get('softDeleteRetentionInDays')})."
            )
        merged["enableSoftDelete"] = True
        if bool(merged.get("enableRbacAuthorization")) != bool(
            old.get("enableRbacAuthorization")
        ) and not can_write_role_assignments(vault.resource_id):
            raise AzureError(
                403,
                "AuthorizationFailed",
                f"The client '{caller.object_id}' with object id '{caller.object_id}' does not "
                "have authorization to perform action "
                "'Microsoft.Authorization/roleAssignments/write' over scope "
                f"'{vault.resource_id}' or the scope is invalid. Changing "
                "'enableRbacAuthorization' requires unrestricted (unconditioned) permission to "
                "write role assignments. If access was recently granted, please refresh your "
                "credentials.",
            )
        if merged == old and tags == vault.tags:
            return
        vault.properties = merged
        vault.tags = dict(tags)
        vault.updated_at = self.world.clock.now()
        vault.updated_by = caller.object_id
        self.world.save_vault(vault)

    def delete_vault(self, subscription_id: str, resource_group: str, name: str) -> Vault | None:
        """Soft-delete: the vault and its secrets stay recoverable; its assignments go."""
        try:
            vault = self.get_vault(subscription_id, resource_group, name)
        except NotFound as error:
            if error.code == "ResourceGroupNotFound":
                raise
            return None
        vault.deleted_at = self.world.clock.now()
        self.world.save_vault(vault)
        self.world.role_assignments.remove_at_or_below(vault.resource_id)
        return vault

    def _recover(
        self,
        existing: Vault | None,
        subscription_id: str,
        group: ResourceGroup,
        name: str,
        location: str,
        caller: Caller,
    ) -> Vault:
        if existing is not None and existing.deleted_at is None:
            if (
                existing.subscription_id.lower() == subscription_id.lower()
                and existing.resource_group.lower() == group.name.lower()
            ):
                # Guessed: a live vault has nothing to recover; Azure answers as for a
                # missing deleted vault.
                existing = None
            else:
                raise _vault_name_in_use(name)
        if (
            existing is None
            or existing.subscription_id.lower() != subscription_id.lower()
            or existing.location != location
        ):
            raise BadRequest(
                "A soft deleted vault with the given name does not exist. Ensure that the name "
                "for the vault that is being attempted to recover is in a recoverable state. "
                "For more information, go to https://go.microsoft.com/fwlink/?linkid=2149745",
                code="SoftDeletedVaultDoesNotExist",  # status guessed
            )
        if existing.resource_group.lower() != group.name.lower():
            raise Conflict(
                f"The deleted vault '{name}' belonged to resource group "
                f"'{existing.resource_group}'; recover it there.",
                code="ConflictError",  # guessed wording
            )
        # Recovery restores the vault as it was (Azure ignores the request's other
        # properties; see Azure/azure-rest-api-specs#21306) and its secrets, but not
        # the role assignments that were removed when it was deleted.
        existing.deleted_at = None
        existing.updated_at = self.world.clock.now()
        existing.updated_by = caller.object_id
        self.world.save_vault(existing)
        self._on_live(existing)
        return existing

    # -- deleted vaults --------------------------------------------------------------------
    def _expire_deleted(self) -> None:
        now = self.world.clock.now()
        for vault in list(self.world.vaults.values()):
            purge_at = vault.scheduled_purge_at
            if purge_at is not None and purge_at <= now:
                self._purge(vault)

    def _purge(self, vault: Vault) -> None:
        self._on_gone(vault)
        self.world.purge_vault(vault)

    def deleted_vaults(self, subscription_id: str) -> list[Vault]:
        subscription_id = self.check_subscription(subscription_id)
        self._expire_deleted()
        return sorted(
            (
                v
                for v in self.world.vaults.values()
                if v.deleted_at is not None and v.subscription_id.lower() == subscription_id.lower()
            ),
            key=lambda v: v.name.lower(),
        )

    def get_deleted_vault(self, subscription_id: str, location: str, name: str) -> Vault:
        subscription_id = self.check_subscription(subscription_id)
        self._expire_deleted()
        vault = self.world.vaults.get(name.lower())
        if (
            vault is None
            or vault.deleted_at is None
            or vault.subscription_id.lower() != subscription_id.lower()
            or vault.location != normalize_location(location)
        ):
            # Guessed wording, in ARM's usual ResourceNotFound form.
            raise NotFound(
                f"The Resource 'Microsoft.KeyVault/deletedVaults/{name}' under location "
                f"'{normalize_location(location)}' was not found.",
                code="ResourceNotFound",
            )
        return vault

    def purge_deleted_vault(self, subscription_id: str, location: str, name: str) -> None:
        vault = self.get_deleted_vault(subscription_id, location, name)
        if vault.purge_protection:
            # Azure's answer (InvalidOperation, formerly MethodNotAllowed); HTTP status guessed.
            raise AzureError(
                400,
                "InvalidOperation",
                "Operation 'DeletedVaultPurge' is not allowed. The vault has purge protection "
                "enabled; Key Vault purges it automatically on its scheduled purge date.",
            )
        self._purge(vault)

    def check_name_availability(self, name: Any) -> tuple[bool, str | None, str | None]:
        if not isinstance(name, str):
            raise BadRequest(
                "The request content was invalid: 'name' is required.",
                code="InvalidRequestContent",
            )
        try:
            check_vault_name(name)
        except BadRequest as error:
            return False, "AccountNameInvalid", error.message
        self._expire_deleted()
        vault = self.world.vaults.get(name.lower())
        if vault is None:
            return True, None, None
        if vault.deleted_at is not None:
            return (
                False,
                "AlreadyExists",
                f"The vault name '{name}' is already in use by a soft-deleted vault; recover "
                "or purge it to reuse the name.",  # guessed wording
            )
        return False, "AlreadyExists", _vault_name_in_use(name).message

    # -- scopes ----------------------------------------------------------------------------
    def check_scope(self, scope: str) -> str:
        """The canonical scope for an assignment, or the 404 Azure gives for it.

        Subscriptions, resource groups, vaults and anything below a vault (a
        secret's scope) are served; other resource types are refused.
        """
        parts = [p for p in scope.split("/") if p]
        if not parts:
            return "/"
        if parts[0].lower() == "providers":
            return "/" + "/".join(parts)  # tenant-level (root) scope
        if parts[0].lower() != "subscriptions" or len(parts) < 2:
            raise BadRequest(
                f"The scope '{scope}' is not valid for role assignments.",
                code="InvalidScope",  # guessed wording
            )
        subscription = self.check_subscription(parts[1])
        canonical = f"/subscriptions/{subscription}"
        if len(parts) == 2:
            return canonical
        if parts[2].lower() != "resourcegroups" or len(parts) < 4:
            raise BadRequest(f"The scope '{scope}' is not valid.", code="InvalidScope")
        group = self.resource_group(subscription, parts[3])
        canonical = group.id
        if len(parts) == 4:
            return canonical
        rest = parts[4:]
        if (
            len(rest) >= 4
            and rest[0].lower() == "providers"
            and rest[1].lower() == "microsoft.keyvault"
            and rest[2].lower() == "vaults"
        ):
            vault = self.get_vault(subscription, group.name, rest[3])
            tail = "/".join(rest[4:])
            return vault.resource_id + (f"/{tail}" if tail else "")
        raise NotFound(
            f"The resource '{'/'.join(rest)}' under resource group '{group.name}' was not found; "
            "the emulator serves role assignments on subscriptions, resource groups and "
            "Microsoft.KeyVault vaults.",
            code="ResourceNotFound",
        )

    @staticmethod
    def same_scope(a: str, b: str) -> bool:
        return normalize_scope(a) == normalize_scope(b)


PERMISSION_KINDS = ("keys", "secrets", "certificates", "storage")


def merge_access_policies(
    current: list[dict[str, Any]], changes: list[dict[str, Any]], kind: str
) -> list[dict[str, Any]]:
    """Vaults_UpdateAccessPolicy: ``add`` unions permissions per identity, ``replace``
    overwrites them, ``remove`` takes the listed permissions away (an entry left
    with none is dropped)."""
    if kind not in ("add", "replace", "remove"):
        raise BadRequest(
            f"The operation kind '{kind}' is invalid; use 'add', 'replace' or 'remove'.",
            code="BadRequest",
        )
    _check_property_types({"accessPolicies": changes})
    result = [dict(entry) for entry in current]

    def key(entry: dict[str, Any]) -> tuple[str, str, str]:
        return (
            str(entry.get("tenantId", "")).lower(),
            str(entry.get("objectId", "")).lower(),
            str(entry.get("applicationId") or "").lower(),
        )

    for change in changes:
        found = next((e for e in result if key(e) == key(change)), None)
        wanted = change.get("permissions") or {}
        if kind == "replace" or (kind == "add" and found is None):
            if found is not None:
                result.remove(found)
            result.append(dict(change))
            continue
        if found is None:
            continue
        permissions = dict(found.get("permissions") or {})
        for permission_kind in PERMISSION_KINDS:
            have = [p.lower() for p in permissions.get(permission_kind) or []]
            delta = [p.lower() for p in wanted.get(permission_kind) or []]
            if kind == "add":
                permissions[permission_kind] = have + [p for p in delta if p not in have]
            else:
                permissions[permission_kind] = [p for p in have if p not in delta]
        found["permissions"] = {k: v for k, v in permissions.items() if v}
        if kind == "remove" and not found["permissions"]:
            result.remove(found)
    return result
