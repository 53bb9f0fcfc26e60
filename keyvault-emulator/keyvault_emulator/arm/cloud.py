"""Cloud metadata: ``GET {arm}/metadata/endpoints``, served without a token.

``az cloud register --endpoint-resource-manager URL`` reads
``{URL}/metadata/endpoints?api-version=2022-09-01`` and builds its cloud from
``name``, ``authentication.loginEndpoint``, ``authentication.audiences[0]``
(the resource it asks Resource Manager tokens for), ``resourceManager``,
``microsoftGraphResourceId`` (the Graph base URL *and* the resource of Graph
tokens) and ``suffixes.keyVaultDns`` (vault URLs are ``https://{vault
name}{suffix}``). Every endpoint published here is the emulator's own, so a
registered CLI never reaches out to Azure:

- Resource Manager, Microsoft Graph and the login endpoint are the main port;
- the Key Vault suffix is empty: each vault lives on a port of its own, so a
  vault's "name" for the CLI's ``--vault-name`` is its authority
  (``127.0.0.1:PORT``, from the vault's ``vaultUri``);
- the audiences are Resource Manager's real ones, which the emulator accepts.

Older api-versions answer the older shapes: a list of clouds (2019-05-01 to
2020-06-01) and, before that, the legacy object with ``graphEndpoint``.
"""

from __future__ import annotations

from typing import Any

CLOUD_NAME = "AzureKeyVaultEmulator"
ARM_TOKEN_AUDIENCES = ("https://management.core.windows.net/", "https://management.azure.com/")
LIST_SINCE = "2019-05-01"
SINGLE_SINCE = "2022-09-01"


def cloud_metadata(origin: str, tenant_id: str) -> dict[str, Any]:
    """The emulator as a cloud, for a main port reached at ``origin`` (``https://host:port``)."""
    base = origin.rstrip("/") + "/"
    return {
        "name": CLOUD_NAME,
        "portal": base,
        "resourceManager": base,
        "authentication": {
            "loginEndpoint": base,
            "audiences": list(ARM_TOKEN_AUDIENCES),
            "tenant": tenant_id,
            "identityProvider": "AAD",
        },
        "microsoftGraphResourceId": base,
        "graph": base,
        "graphAudience": base,
        "gallery": base,
        "batch": base,
        "sqlManagement": base,
        "media": base,
        "vmImageAliasDoc": base,
        "suffixes": {"keyVaultDns": "", "storage": "", "sqlServerHostname": ""},
    }


def metadata_for(api_version: str, origin: str, tenant_id: str) -> Any:
    """The body ``GET /metadata/endpoints`` answers at ``api_version`` (already validated)."""
    cloud = cloud_metadata(origin, tenant_id)
    if api_version >= SINGLE_SINCE:
        return cloud
    if api_version >= LIST_SINCE:
        return [cloud]
    return {
        "galleryEndpoint": cloud["gallery"],
        "graphEndpoint": cloud["graph"],
        "portalEndpoint": cloud["portal"],
        "authentication": {
            "loginEndpoint": cloud["authentication"]["loginEndpoint"],
            "audiences": cloud["authentication"]["audiences"],
        },
    }
