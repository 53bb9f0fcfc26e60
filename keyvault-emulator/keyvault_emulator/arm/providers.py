"""The resource providers the emulator serves, as ``GET .../providers`` describes them.

Clients read a provider to learn its resource types and api-versions (the
Azure CLI's generic ``az resource`` commands, tooling that checks a
subscription is registered for Key Vault). Every served namespace is always
``Registered``: there is nothing to register in the emulator. Locations are
Resource Manager's display names; the emulator accepts any location, so the
list names the common ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NotFound

LOCATIONS = (
    "East US",
    "East US 2",
    "West US",
    "West US 2",
    "Central US",
    "North Europe",
    "West Europe",
    "UK South",
    "Germany West Central",
    "Sweden Central",
    "Southeast Asia",
    "Australia East",
    "Japan East",
)


@dataclass(frozen=True)
class ProviderType:
    resource_type: str
    api_versions: tuple[str, ...]
    global_type: bool = False  # served at location "global" (no regions)


@dataclass(frozen=True)
class Provider:
    namespace: str
    types: tuple[ProviderType, ...]


def providers(api_versions: dict[str, tuple[str, ...]]) -> tuple[Provider, ...]:
    """The served providers, with each family's api-versions (newest first, as ARM lists)."""
    keyvault = tuple(reversed(api_versions["Microsoft.KeyVault"]))
    authorization = tuple(reversed(api_versions["Microsoft.Authorization"]))
    return (
        Provider(
            "Microsoft.KeyVault",
            (
                ProviderType("vaults", keyvault),
                ProviderType("vaults/accessPolicies", keyvault),
                ProviderType("deletedVaults", keyvault, global_type=True),
                ProviderType("locations/deletedVaults", keyvault, global_type=True),
                ProviderType("checkNameAvailability", keyvault, global_type=True),
                ProviderType("managedHSMs", keyvault),
                ProviderType("deletedManagedHSMs", keyvault, global_type=True),
            ),
        ),
        Provider(
            "Microsoft.Authorization",
            (
                ProviderType("roleAssignments", authorization, global_type=True),
                ProviderType("roleDefinitions", authorization, global_type=True),
                ProviderType("permissions", authorization, global_type=True),
            ),
        ),
    )


def provider_body(subscription_id: str, provider: Provider) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription_id}/providers/{provider.namespace}",
        "namespace": provider.namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": kind.resource_type,
                "locations": [] if kind.global_type else list(LOCATIONS),
                "apiVersions": list(kind.api_versions),
                "capabilities": "None",
            }
            for kind in provider.types
        ],
    }


def find_provider(known: tuple[Provider, ...], namespace: str) -> Provider:
    """The provider named ``namespace`` (any case), or Resource Manager's 404."""
    for provider in known:
        if provider.namespace.lower() == namespace.lower():
            return provider
    # Resource Manager's wording for a namespace it does not know.
    raise NotFound(
        f"The resource namespace '{namespace}' is invalid.", code="InvalidResourceNamespace"
    )
