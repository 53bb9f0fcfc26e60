"""Resource Manager on the wire: vaults, resource groups, generic resource lists,
providers, managed HSM lists, cloud metadata and subscriptions.

Handlers read parameters, call :class:`~emulator.arm.models.ResourceManager`
and format Azure's JSON. Long-running operations answer so the SDK's pollers
finish on the first response: the vault PUT returns 200/201 with
``provisioningState: Succeeded`` and no ``Location`` header (unless
``vault_dns_registration_s`` is set: a new vault then answers 200
``RegisteringDns`` and the poller polls its GET until Succeeded); the purge of
a deleted vault and the delete of a resource group answer 200 when done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..authorization.models import scope_contains
from ..errors import AzureError, BadRequest
from ..http import InvalidJson, Request, Response, json_object
from ..keyvault.models import Vault
from ..keyvault.responses import vault_url
from ..state import World
from .cloud import metadata_for
from .filters import parse_filter
from .models import Caller, ResourceGroup, ResourceManager
from .paging import paged
from .providers import find_provider, provider_body, providers
from .routes import API_VERSIONS

# Before this api-version a new vault defaulted to access policies; from it on,
# to RBAC (the 2026-05-15 spec documents ``default: true``). The switch-over
# version is our reading of the Key Vault API change log.
RBAC_DEFAULT_SINCE = "2026-02-01"


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, or ARM's ``InvalidRequestContent``."""
    if not request.body:
        if required:
            raise BadRequest(
                "The request content was invalid and could not be deserialized: the body is empty.",
                code="InvalidRequestContent",
            )
        return {}
    try:
        return json_object(request.body)
    except InvalidJson as invalid:
        raise BadRequest(
            f"The request content was invalid and could not be deserialized: '{invalid.detail}'.",
            code="InvalidRequestContent",
        ) from None


def _object(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(
            f"The request content was invalid: '{key}' must be an object.",
            code="InvalidRequestContent",
        )
    return value


class ArmResponses:
    """Handlers for Microsoft.KeyVault, Microsoft.Resources and subscriptions."""

    def _paged(
        self, request: Request, items: Any, render: Callable[[Any], dict[str, Any]]
    ) -> Response:
        return paged(request, items, render, page_size=self.world.config.arm_page_size)

    def __init__(
        self,
        world: World,
        manager: ResourceManager,
        can_write_role_assignments: Callable[[Caller, str], bool],
    ) -> None:
        self.world = world
        self.manager = manager
        self._can_write_role_assignments = can_write_role_assignments
        self._providers = providers(API_VERSIONS)

    # -- shapes ------------------------------------------------------------------------
    def _system_data(
        self, created_by: str, created_at: float, by: str, at: float
    ) -> dict[str, Any]:
        def who(object_id: str) -> tuple[str, str]:
            identity = self.world.identities_by_oid.get(object_id.lower()) if object_id else None
            if identity is None:
                return object_id or "emulator", "Application"
            kind = "User" if identity.principal_type == "User" else "Application"
            return (identity.client_id if kind == "Application" else identity.object_id), kind

        creator, creator_type = who(created_by)
        modifier, modifier_type = who(by)
        return {
            "createdBy": creator,
            "createdByType": creator_type,
            "createdAt": iso(created_at),
            "lastModifiedBy": modifier,
            "lastModifiedByType": modifier_type,
            "lastModifiedAt": iso(at),
        }

    def vault_body(self, vault: Vault) -> dict[str, Any]:
        properties = {k: v for k, v in vault.properties.items() if v is not None}
        properties["vaultUri"] = vault_url(vault)
        return {
            "id": vault.resource_id,
            "name": vault.name,
            "type": "Microsoft.KeyVault/vaults",
            "location": vault.location,
            "tags": dict(vault.tags),
            "systemData": self._system_data(
                vault.created_by, vault.created_at, vault.updated_by, vault.updated_at
            ),
            "properties": properties,
        }

    @staticmethod
    def deleted_vault_body(vault: Vault) -> dict[str, Any]:
        return {
            "id": (
                f"/subscriptions/{vault.subscription_id}/providers/Microsoft.KeyVault/locations/"
                f"{vault.location}/deletedVaults/{vault.name}"
            ),
            "name": vault.name,
            "type": "Microsoft.KeyVault/deletedVaults",
            "properties": {
                "vaultId": vault.resource_id,
                "location": vault.location,
                "deletionDate": iso(vault.deleted_at),
                "scheduledPurgeDate": iso(vault.scheduled_purge_at),
                "tags": dict(vault.tags),
                "purgeProtectionEnabled": vault.purge_protection,
            },
        }

    @staticmethod
    def group_body(group: ResourceGroup) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": group.location,
            "properties": {"provisioningState": "Succeeded"},
        }
        if group.tags:
            body["tags"] = dict(group.tags)
        if group.managed_by:
            body["managedBy"] = group.managed_by
        return body

    def _subscription_body(self, subscription_id: str, index: int) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{subscription_id}",
            "subscriptionId": subscription_id,
            "tenantId": self.world.config.tenant_id,
            "displayName": f"Emulator subscription {index + 1}",
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
            "authorizationSource": "RoleBased",
        }

    # -- vaults ------------------------------------------------------------------------
    def _rbac_check(self, caller: Caller) -> Callable[[str], bool]:
        return lambda scope: self._can_write_role_assignments(caller, scope)

    def get_vault(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        vault = self.manager.get_vault(params["subscription"], params["group"], params["vault"])
        return Response.json(200, self.vault_body(vault))

    def put_vault(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        body = json_body(request)
        api_version = request.query.get("api-version", "")
        vault, created = self.manager.put_vault(
            params["subscription"],
            params["group"],
            params["vault"],
            location=body.get("location"),
            tags=body.get("tags"),
            properties=_object(body, "properties"),
            caller=caller,
            rbac_default=api_version >= RBAC_DEFAULT_SINCE,
            can_write_role_assignments=self._rbac_check(caller),
        )
        # No Location header: the SDK's poller reads provisioningState from this
        # body and, until it is Succeeded, polls the vault's GET. A new vault still
        # registering its DNS name answers 200, as Resource Manager does.
        finished = vault.properties.get("provisioningState") == "Succeeded"
        return Response.json(201 if created and finished else 200, self.vault_body(vault))

    def patch_vault(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        body = json_body(request)
        vault = self.manager.patch_vault(
            params["subscription"],
            params["group"],
            params["vault"],
            tags=body.get("tags"),
            properties=_object(body, "properties"),
            caller=caller,
            can_write_role_assignments=self._rbac_check(caller),
        )
        return Response.json(200, self.vault_body(vault))

    def delete_vault(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        deleted = self.manager.delete_vault(
            params["subscription"], params["group"], params["vault"]
        )
        return Response(200 if deleted is not None else 204)

    def put_access_policy(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        body = json_body(request)
        properties = _object(body, "properties") or {}
        kind = params["kind"].lower()
        vault = self.manager.update_access_policies(
            params["subscription"],
            params["group"],
            params["vault"],
            kind,
            properties.get("accessPolicies"),
            caller,
        )
        return Response.json(
            200,
            {
                "id": f"{vault.resource_id}/accessPolicies/{kind}",
                "name": kind,
                "type": "Microsoft.KeyVault/vaults/accessPolicies",
                "location": vault.location,
                "properties": {"accessPolicies": vault.access_policies},
            },
        )

    def list_vaults(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        if "group" in params:
            self.manager.resource_group(params["subscription"], params["group"])
        else:
            self.manager.check_subscription(params["subscription"])
        vaults = self.manager.vaults_in(params["subscription"], params.get("group"))
        return self._paged(request, vaults, self.vault_body)

    def list_deleted_vaults(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        vaults = self.manager.deleted_vaults(params["subscription"])
        return self._paged(request, vaults, self.deleted_vault_body)

    def get_deleted_vault(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        vault = self.manager.get_deleted_vault(
            params["subscription"], params["location"], params["vault"]
        )
        return Response.json(200, self.deleted_vault_body(vault))

    def purge_deleted_vault(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        self.manager.purge_deleted_vault(
            params["subscription"], params["location"], params["vault"]
        )
        # Done at once: a 200 without Location ends the SDK's poller.
        return Response(200)

    def check_name_availability(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        self.manager.check_subscription(params["subscription"])
        body = json_body(request)
        if body.get("type") != "Microsoft.KeyVault/vaults":
            raise BadRequest(
                "The request content was invalid: 'type' must be 'Microsoft.KeyVault/vaults'.",
                code="InvalidRequestContent",
            )
        available, reason, message = self.manager.check_name_availability(body.get("name"))
        result: dict[str, Any] = {"nameAvailable": available}
        if reason:
            result["reason"] = reason
            result["message"] = message
        return Response.json(200, result)

    # -- resource groups -------------------------------------------------------------------
    def get_resource_group(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        group = self.manager.resource_group(params["subscription"], params["group"])
        return Response.json(200, self.group_body(group))

    def check_resource_group(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        self.manager.resource_group(params["subscription"], params["group"])
        return Response(204)

    def put_resource_group(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        body = json_body(request)
        group, created = self.manager.put_resource_group(
            params["subscription"],
            params["group"],
            location=body.get("location"),
            tags=body.get("tags"),
            managed_by=body.get("managedBy"),
        )
        return Response.json(201 if created else 200, self.group_body(group))

    def patch_resource_group(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        body = json_body(request)
        group = self.manager.patch_resource_group(
            params["subscription"], params["group"], body.get("tags")
        )
        return Response.json(200, self.group_body(group))

    def delete_resource_group(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        self.manager.delete_resource_group(params["subscription"], params["group"])
        return Response(200)  # finished: no Location, so the SDK's poller ends here

    def list_resource_groups(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        groups = self.manager.list_resource_groups(params["subscription"])
        return self._paged(request, groups, self.group_body)

    def list_resources(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        """Generic resources of a subscription or a group; the emulator's only ones are vaults.

        ``$filter`` narrows them (see :mod:`emulator.arm.filters`); a filter the
        emulator does not understand is refused, never answered with a wrong list.
        """
        wanted = parse_filter(request.query.get("$filter", ""))
        group = params.get("group")
        if group is not None:
            self.manager.resource_group(params["subscription"], group)
        else:
            self.manager.check_subscription(params["subscription"])
        vaults = [
            v
            for v in self.manager.vaults_in(params["subscription"], group)
            if wanted.accepts(
                {
                    "resourcetype": "Microsoft.KeyVault/vaults",
                    "name": v.name,
                    "resourcegroup": v.resource_group,
                    "location": v.location,
                }
            )
        ]
        return self._paged(request, vaults, self.generic_resource_body)

    @staticmethod
    def generic_resource_body(vault: Vault) -> dict[str, Any]:
        return {
            "id": vault.resource_id,
            "name": vault.name,
            "type": "Microsoft.KeyVault/vaults",
            "location": vault.location,
            "tags": dict(vault.tags),
        }

    # -- cloud metadata ----------------------------------------------------------------------
    def metadata_endpoints(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        origin = f"https://{request.headers.get('host', '127.0.0.1')}"
        body = metadata_for(request.query["api-version"], origin, self.world.config.tenant_id)
        return Response.json(200, body)

    # -- providers -------------------------------------------------------------------------
    def get_provider(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        subscription = self.manager.check_subscription(params["subscription"])
        provider = find_provider(self._providers, params["namespace"])
        return Response.json(200, provider_body(subscription, provider))

    def list_providers(self, request: Request, params: dict[str, str], caller: Caller) -> Response:
        subscription = self.manager.check_subscription(params["subscription"])
        return self._paged(
            request, self._providers, lambda provider: provider_body(subscription, provider)
        )

    def list_managed_hsms(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        """Managed HSMs (live or deleted): the emulator has none, so an empty list."""
        if "group" in params:
            self.manager.resource_group(params["subscription"], params["group"])
        else:
            self.manager.check_subscription(params["subscription"])
        return self._paged(request, [], lambda item: item)

    # -- subscriptions ---------------------------------------------------------------------
    def _visible_subscriptions(self, caller: Caller) -> list[tuple[int, str]]:
        assignments = list(self.world.role_assignments.for_principal(caller.object_id))
        visible = []
        for index, subscription in enumerate(self.world.config.subscriptions):
            root = f"/subscriptions/{subscription}"
            if any(
                scope_contains(root, a.scope) or scope_contains(a.scope, root) for a in assignments
            ):
                visible.append((index, subscription))
        return visible

    def get_subscription(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        subscription = self.manager.check_subscription(params["subscription"])
        for index, visible in self._visible_subscriptions(caller):
            if visible == subscription:
                return Response.json(200, self._subscription_body(visible, index))
        raise AzureError(
            403,
            "AuthorizationFailed",
            f"The client '{caller.object_id}' with object id '{caller.object_id}' does not have "
            "authorization to perform action 'Microsoft.Resources/subscriptions/read' over "
            f"scope '/subscriptions/{subscription}' or the scope is invalid. If access was "
            "recently granted, please refresh your credentials.",
        )

    def list_subscriptions(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        visible = self._visible_subscriptions(caller)
        return self._paged(request, visible, lambda pair: self._subscription_body(pair[1], pair[0]))
