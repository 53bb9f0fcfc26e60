"""What other clients ask Resource Manager: generic resource lists and their $filter,
providers, managed HSM lists and cloud metadata (the Azure CLI's and the JS SDK's
requests, through the unmodified Python clients where one exists)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.arm.filters import parse_filter
from keyvault_emulator.config import EmulatorConfig
from keyvault_emulator.testing import RunningEmulator

from .arm_support import create_vault, error_code, new_group


@pytest.fixture(scope="module")
def two_groups(emulator: RunningEmulator) -> tuple[str, str, list[str], list[str]]:
    """Two groups, the first with two vaults, the second with one."""
    first, second = new_group(emulator), new_group(emulator)
    in_first = [create_vault(emulator, first).name for _ in range(2)]
    in_second = [create_vault(emulator, second).name]
    return first, second, in_first, in_second


def test_a_groups_resources_are_listed(emulator, two_groups):
    first, _, in_first, _ = two_groups
    listed = list(emulator.resource_client().resources.list_by_resource_group(first))
    assert sorted(r.name for r in listed) == sorted(in_first)
    assert {r.type for r in listed} == {"Microsoft.KeyVault/vaults"}
    assert all(f"/resourceGroups/{first}/" in r.id for r in listed)


def test_an_unknown_groups_resources_are_a_404(emulator):
    resources = emulator.resource_client().resources
    with pytest.raises(HttpResponseError) as raised:
        list(resources.list_by_resource_group("rg-never-made"))
    assert raised.value.status_code == 404
    assert error_code(raised.value) == "ResourceGroupNotFound"


def test_the_clis_filter_by_type_and_name_finds_one_vault_in_any_case(emulator, two_groups):
    _, _, in_first, _ = two_groups
    wanted = in_first[1]
    query = f"resourceType eq 'Microsoft.KeyVault/vaults' and name eq '{wanted.upper()}'"
    listed = list(emulator.resource_client().resources.list(filter=query))
    assert [r.name for r in listed] == [wanted]


def test_a_filter_by_group_lists_that_groups_vaults(emulator, two_groups):
    _, second, _, in_second = two_groups
    listed = emulator.resource_client().resources.list(filter=f"resourceGroup eq '{second}'")
    assert [r.name for r in listed] == in_second


def test_a_filter_on_a_type_the_emulator_has_none_of_is_an_empty_list(emulator, two_groups):
    listed = emulator.resource_client().resources.list(
        filter="resourceType eq 'Microsoft.Storage/storageAccounts'"
    )
    assert list(listed) == []


@pytest.mark.parametrize(
    "unsupported",
    [
        "tagName eq 'team'",
        "name eq 'a' or name eq 'b'",
        "substringof('kv', name)",
        "resourceType eq 'Microsoft.KeyVault/vaults' and",
        "name ne 'a'",
    ],
)
def test_a_filter_the_emulator_does_not_understand_is_refused_not_answered_empty(
    emulator, unsupported
):
    with pytest.raises(HttpResponseError) as raised:
        list(emulator.resource_client().resources.list(filter=unsupported))
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "InvalidFilterInQueryString"
    assert f"Invalid $filter '{unsupported}'" in str(raised.value)


def test_the_keyvault_clients_vault_list_goes_through_the_resource_filter(emulator, two_groups):
    _, _, in_first, in_second = two_groups
    listed = {v.name for v in emulator.keyvault_mgmt_client().vaults.list()}
    assert set(in_first + in_second) <= listed


def test_filter_values_with_quotes_and_clauses_parse():
    parsed = parse_filter("name eq 'o''brien'  and  resourceGroup eq 'RG'")
    assert parsed.conditions == (("name", "o'brien"), ("resourcegroup", "rg"))
    assert parsed.accepts({"name": "O'Brien", "resourcegroup": "rg"})
    assert not parsed.accepts({"name": "O'Brien", "resourcegroup": "other"})


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    running = RunningEmulator(
        EmulatorConfig(arm_page_size=2), state_dir=tmp_path_factory.mktemp("pages")
    )
    try:
        yield running
    finally:
        running.stop()


def test_group_resource_lists_come_in_pages_that_the_pager_follows(small_pages):
    group = new_group(small_pages)
    names = sorted(create_vault(small_pages, group).name for _ in range(5))
    since = small_pages.audit(plane="arm")[-1].time
    resources = small_pages.resource_client().resources
    assert sorted(r.name for r in resources.list_by_resource_group(group)) == names
    filtered = resources.list(filter=f"resourceGroup eq '{group}'")
    assert sorted(r.name for r in filtered) == names
    pages = small_pages.audit(plane="arm", since=since, operation="ResourceList")
    assert len(pages) == 6  # 3 pages each


# -- providers ----------------------------------------------------------------------------
def test_the_keyvault_provider_is_registered_with_its_resource_types(emulator):
    provider = emulator.resource_client().providers.get("microsoft.keyvault")
    assert provider.namespace == "Microsoft.KeyVault"
    assert provider.registration_state == "Registered"
    types = {t.resource_type: t for t in provider.resource_types}
    assert {"vaults", "deletedVaults", "managedHSMs"} <= set(types)
    assert "2026-05-15" in types["vaults"].api_versions
    assert "West Europe" in types["vaults"].locations


def test_the_subscriptions_providers_list_holds_keyvault_and_authorization(emulator):
    listed = {p.namespace: p for p in emulator.resource_client().providers.list()}
    assert {"Microsoft.KeyVault", "Microsoft.Authorization"} <= set(listed)
    assert {p.registration_state for p in listed.values()} == {"Registered"}


def test_an_unknown_provider_is_a_404(emulator):
    with pytest.raises(HttpResponseError) as raised:
        emulator.resource_client().providers.get("Microsoft.NoSuchThing")
    assert raised.value.status_code == 404
    assert error_code(raised.value) == "InvalidResourceNamespace"


def test_reading_providers_needs_a_role_on_the_subscription(emulator):
    with pytest.raises(HttpResponseError) as raised:
        emulator.resource_client("outsider").providers.get("Microsoft.KeyVault")
    assert raised.value.status_code == 403
    assert error_code(raised.value) == "AuthorizationFailed"


# -- managed HSMs ----------------------------------------------------------------------------
def test_managed_hsm_lists_are_empty_lists(emulator, two_groups):
    first = two_groups[0]
    hsms = emulator.keyvault_mgmt_client().managed_hsms
    assert list(hsms.list_by_subscription()) == []
    assert list(hsms.list_by_resource_group(first)) == []
    assert list(hsms.list_deleted()) == []


def test_a_managed_hsm_list_in_an_unknown_group_is_a_404(emulator):
    hsms = emulator.keyvault_mgmt_client().managed_hsms
    with pytest.raises(HttpResponseError) as raised:
        list(hsms.list_by_resource_group("rg-never-made"))
    assert raised.value.status_code == 404


# -- cloud metadata ---------------------------------------------------------------------------
def _metadata(emulator: RunningEmulator, api_version: str, path: str = "/metadata/endpoints"):
    return requests.get(
        f"{emulator.arm_url}{path}",
        params={"api-version": api_version},
        verify=emulator.ca_path,
        timeout=30,
    )


def test_cloud_metadata_is_served_without_a_token_naming_the_emulators_endpoints(emulator):
    answer = _metadata(emulator, "2022-09-01", path="//metadata/endpoints")  # as az sends it
    assert answer.status_code == 200
    cloud = answer.json()
    own = emulator.arm_url + "/"
    assert cloud["resourceManager"] == own
    assert cloud["microsoftGraphResourceId"] == own
    assert cloud["authentication"]["loginEndpoint"] == own
    assert cloud["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert cloud["suffixes"]["keyVaultDns"] == ""
    assert cloud["name"]


def test_older_metadata_versions_answer_their_own_shapes(emulator):
    listed = _metadata(emulator, "2020-06-01").json()
    assert isinstance(listed, list)
    assert listed[0]["resourceManager"] == emulator.arm_url + "/"
    legacy = _metadata(emulator, "2015-01-01").json()
    assert legacy["graphEndpoint"] == emulator.arm_url + "/"
    assert legacy["authentication"]["audiences"]


def test_cloud_metadata_at_an_unknown_api_version_is_refused(emulator):
    answer = _metadata(emulator, "2099-01-01")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_other_paths_still_need_a_token(emulator):
    status, body, _ = emulator.arm_request(
        "GET", f"/subscriptions/{emulator.subscription_id}/providers", identity=None
    )
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"


def test_vault_names_from_the_filter_are_matched_whole(emulator, two_groups):
    _, _, in_first, _ = two_groups
    prefix = in_first[0][:-1]
    listed = emulator.resource_client().resources.list(filter=f"name eq '{prefix}'")
    assert list(listed) == []
