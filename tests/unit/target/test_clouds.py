"""The table of Azure clouds: each row's endpoints, and looking a cloud up by name."""

from __future__ import annotations

import pytest
from azure.core import AzureClouds
from azure.identity import AzureAuthorityHosts
from azure.mgmt.core.tools import get_arm_endpoints
from keyvault_platform.target.clouds import (
    AZURE_CHINA_CLOUD,
    AZURE_PUBLIC_CLOUD,
    AZURE_US_GOVERNMENT,
    CLOUDS,
    UnknownCloud,
    cloud_named,
)

# name: (Resource Manager, ARM scope, authority host, vault URL of "kv-x", Key Vault audience)
EXPECTED = {
    "AzureCloud": (
        "https://management.azure.com",
        "https://management.azure.com/.default",
        "login.microsoftonline.com",
        "https://kv-x.vault.azure.net/",
        "https://vault.azure.net",
    ),
    "AzureChinaCloud": (
        "https://management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn/.default",
        "login.chinacloudapi.cn",
        "https://kv-x.vault.azure.cn/",
        "https://vault.azure.cn",
    ),
    "AzureUSGovernment": (
        "https://management.usgovcloudapi.net",
        "https://management.core.usgovcloudapi.net/.default",
        "login.microsoftonline.us",
        "https://kv-x.vault.usgovcloudapi.net/",
        "https://vault.usgovcloudapi.net",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_cloud_has_its_endpoints(name: str) -> None:
    cloud = CLOUDS[name]
    assert cloud.name == name
    assert (
        cloud.resource_manager,
        cloud.arm_scope,
        cloud.authority_host,
        cloud.vault_url("kv-x"),
        cloud.keyvault_audience,
    ) == EXPECTED[name]


def test_the_table_holds_exactly_the_three_azure_clouds() -> None:
    assert list(CLOUDS) == ["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"]
    with pytest.raises(TypeError):
        CLOUDS["AzureGermanCloud"] = AZURE_PUBLIC_CLOUD  # type: ignore[index]


@pytest.mark.parametrize(
    ("cloud", "sdk_cloud", "authority"),
    [
        (
            AZURE_PUBLIC_CLOUD,
            AzureClouds.AZURE_PUBLIC_CLOUD,
            AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
        ),
        (AZURE_CHINA_CLOUD, AzureClouds.AZURE_CHINA_CLOUD, AzureAuthorityHosts.AZURE_CHINA),
        (
            AZURE_US_GOVERNMENT,
            AzureClouds.AZURE_US_GOVERNMENT,
            AzureAuthorityHosts.AZURE_GOVERNMENT,
        ),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_the_rows_agree_with_the_installed_sdks(cloud, sdk_cloud, authority) -> None:
    """azure-mgmt-core's own ARM table and azure-identity's authority hosts."""
    endpoints = get_arm_endpoints(sdk_cloud)
    assert cloud.resource_manager == endpoints["resource_manager"].rstrip("/")
    assert [cloud.arm_scope] == endpoints["credential_scopes"]
    assert cloud.authority_host == authority


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("AzureCloud", AZURE_PUBLIC_CLOUD),
        ("azurecloud", AZURE_PUBLIC_CLOUD),
        ("public", AZURE_PUBLIC_CLOUD),
        ("AzureChinaCloud", AZURE_CHINA_CLOUD),
        ("China", AZURE_CHINA_CLOUD),
        ("AZUREUSGOVERNMENT", AZURE_US_GOVERNMENT),
        ("usgovernment", AZURE_US_GOVERNMENT),
    ],
)
def test_a_cloud_is_found_by_name_or_alias_in_any_case(spelling: str, expected) -> None:
    assert cloud_named(spelling) is expected


def test_an_unknown_cloud_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownCloud) as refused:
        cloud_named("AzureGermanCloud")
    assert str(refused.value) == (
        "unknown Azure cloud 'AzureGermanCloud'; known clouds: AzureCloud (public), "
        "AzureChinaCloud (china), AzureUSGovernment (usgovernment)"
    )
    assert isinstance(refused.value, ValueError)
