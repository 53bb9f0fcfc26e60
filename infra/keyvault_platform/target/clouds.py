"""The Azure clouds a target can talk to: one row of endpoints each.

Names are the Azure CLI's (``az cloud list``). The values are the public
ones that the installed SDKs use themselves: the Resource Manager endpoint
and its token scope as in azure-mgmt-core's ``get_arm_endpoints``, the
authority host as in azure-identity's ``AzureAuthorityHosts``, and Key
Vault's DNS suffix and resource as in ``az cloud show``
(``suffixes.keyvaultDns``) and ``Get-AzEnvironment``
(``AzureKeyVaultServiceEndpointResourceId``).

Azure Germany (closed in 2021) is not listed; Azure Stack and private clouds
are not either: they need endpoints read from their own metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Cloud:
    """One Azure cloud.

    :param name: the cloud's name, as ``az cloud list`` shows it.
    :param aliases: other names the environment file accepts (lower case).
    :param resource_manager: the Resource Manager endpoint (``base_url`` of
        the management clients), without a trailing slash.
    :param arm_audience: the resource a Resource Manager token is asked for.
    :param authority_host: the Entra ID authority host (an ``AzureAuthorityHosts`` value).
    :param keyvault_dns_suffix: a vault's host is ``{name}{suffix}``.
    :param keyvault_audience: the resource a Key Vault data-plane token is for
        (``SecretClient`` learns it from the vault's challenge; listed for reference).
    """

    name: str
    aliases: tuple[str, ...]
    resource_manager: str
    arm_audience: str
    authority_host: str
    keyvault_dns_suffix: str
    keyvault_audience: str

    @property
    def arm_scope(self) -> str:
        """The token scope of Resource Manager requests (``credential_scopes``)."""
        return f"{self.arm_audience}/.default"

    def vault_url(self, vault_name: str) -> str:
        """The data-plane URL of ``vault_name``, with a trailing slash."""
        return f"https://{vault_name}{self.keyvault_dns_suffix}/"


AZURE_PUBLIC_CLOUD = Cloud(
    name="AzureCloud",
    aliases=("public",),
    resource_manager="https://management.azure.com",
    arm_audience="https://management.azure.com",
    authority_host="login.microsoftonline.com",
    keyvault_dns_suffix=".vault.azure.net",
    keyvault_audience="https://vault.azure.net",
)

AZURE_CHINA_CLOUD = Cloud(
    name="AzureChinaCloud",
    aliases=("china",),
    resource_manager="https://management.chinacloudapi.cn",
    arm_audience="https://management.chinacloudapi.cn",
    authority_host="login.chinacloudapi.cn",
    keyvault_dns_suffix=".vault.azure.cn",
    keyvault_audience="https://vault.azure.cn",
)

AZURE_US_GOVERNMENT = Cloud(
    name="AzureUSGovernment",
    aliases=("usgovernment",),
    resource_manager="https://management.usgovcloudapi.net",
    # Resource Manager in US Government takes tokens for its classic
    # management audience; azure-mgmt-core asks for this one too.
    arm_audience="https://management.core.usgovcloudapi.net",
    authority_host="login.microsoftonline.us",
    keyvault_dns_suffix=".vault.usgovcloudapi.net",
    keyvault_audience="https://vault.usgovcloudapi.net",
)

CLOUDS: Mapping[str, Cloud] = MappingProxyType(
    {c.name: c for c in (AZURE_PUBLIC_CLOUD, AZURE_CHINA_CLOUD, AZURE_US_GOVERNMENT)}
)

DEFAULT_CLOUD = AZURE_PUBLIC_CLOUD


class UnknownCloud(ValueError):
    """A cloud name that is not in :data:`CLOUDS` (nor an alias of one)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown Azure cloud {name!r}; known clouds: {known_cloud_names()}")
        self.name = name


def cloud_named(name: str) -> Cloud:
    """The cloud called ``name`` or one of its aliases, in any case.

    :raises UnknownCloud: naming the known clouds.
    """
    wanted = name.strip().lower()
    for cloud in CLOUDS.values():
        if wanted == cloud.name.lower() or wanted in cloud.aliases:
            return cloud
    raise UnknownCloud(name)


def known_cloud_names() -> str:
    """``AzureCloud (public), AzureChinaCloud (china), ...``, for messages."""
    return ", ".join(
        f"{c.name} ({', '.join(c.aliases)})" if c.aliases else c.name for c in CLOUDS.values()
    )
