"""Key Vault through Resource Manager, with the unmodified azure-mgmt-keyvault client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from keyvault_emulator.config import EmulatorConfig, RoleSeed, stable_id
from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import (
    create_vault,
    error_code,
    new_group,
    vault_parameters,
)


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator)


def test_create_returns_a_finished_vault_whose_uri_serves_the_data_plane(emulator, group):
    name = unique_vault_name()
    vault = create_vault(emulator, group, name)
    assert vault.name == name
    assert vault.id.endswith(f"/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}")
    assert vault.properties.provisioning_state == "Succeeded"
    assert vault.properties.enable_soft_delete is True
    assert vault.properties.enable_purge_protection is True
    assert vault.properties.soft_delete_retention_in_days == 7
    assert vault.properties.enable_rbac_authorization is True
    assert vault.properties.vault_uri.startswith("https://127.0.0.1:")
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)
    client = emulator.secret_client(vault.properties.vault_uri, "sync")
    client.set_secret("hello", "world")
    assert client.get_secret("hello").value == "world"
    put = [r for r in emulator.audit(plane="arm", vault=name) if r.operation == "VaultPut"]
    assert [r.status for r in put] == [201]
    assert put[0].identity == "deployer"


def test_recreating_with_the_same_body_changes_nothing(emulator, group):
    name = unique_vault_name()
    first = create_vault(emulator, group, name)
    second = create_vault(emulator, group, name)
    assert second.properties.as_dict() == first.properties.as_dict()
    assert second.system_data.last_modified_at == first.system_data.last_modified_at
    statuses = [r.status for r in emulator.audit(plane="arm", vault=name, operation="VaultPut")]
    assert statuses == [201, 200]


def test_get_list_and_patch(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    create_vault(emulator, group, name)
    assert client.vaults.get(group, name).name == name
    assert name in [v.name for v in client.vaults.list_by_resource_group(group)]
    assert name in [v.name for v in client.vaults.list_by_subscription()]
    assert name in [v.name for v in client.vaults.list()]  # the generic resources listing
    patched = client.vaults.update(group, name, {"tags": {"env": "test"}})
    assert patched.tags == {"env": "test"}
    assert patched.properties.enable_purge_protection is True
    with pytest.raises(ResourceNotFoundError) as missing:
        client.vaults.get(group, unique_vault_name())
    assert error_code(missing.value) == "ResourceNotFound"


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 25, "1kv", "kv-", "kv--double", "kv_under", "kv.dot"],
)
def test_vault_names_follow_azure_rules(emulator, group, name):
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, name)
    assert refused.value.status_code == 400
    assert error_code(refused.value) == "VaultNameNotValid"


def test_names_are_unique_across_resource_groups(emulator, group):
    name = unique_vault_name()
    create_vault(emulator, group, name)
    other = new_group(emulator, "rg-other")
    with pytest.raises(ResourceExistsError) as taken:
        create_vault(emulator, other, name)
    assert error_code(taken.value) == "VaultAlreadyExists"


def test_names_are_unique_across_subscriptions():
    second = stable_id("subscription", "second")
    config = EmulatorConfig().with_changes(
        subscriptions=(EmulatorConfig().subscription_id, second),
        role_assignments=(
            RoleSeed("deployer", "Owner", "/subscriptions/{subscription}"),
            RoleSeed("deployer", "Owner", f"/subscriptions/{second}"),
        ),
    )
    running = RunningEmulator(config)
    try:
        from azure.mgmt.keyvault import KeyVaultManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient

        name = unique_vault_name()
        create_vault(running, new_group(running), name)
        credential = running.credential("deployer")
        resources = ResourceManagementClient(credential, second, **running.mgmt_kwargs())
        resources.resource_groups.create_or_update("rg-second", {"location": "westeurope"})
        client = KeyVaultManagementClient(credential, second, **running.mgmt_kwargs())
        with pytest.raises(ResourceExistsError) as taken:
            client.vaults.begin_create_or_update(
                "rg-second", name, vault_parameters(running)
            ).result()
        assert error_code(taken.value) == "VaultAlreadyExists"
        result = client.vaults.check_name_availability(
            {"name": name, "type": "Microsoft.KeyVault/vaults"}
        )
        assert result.name_available is False
        assert result.reason == "AlreadyExists"
    finally:
        running.stop()


def test_purge_protection_cannot_be_false_even_on_a_new_vault(emulator, group):
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, enablePurgeProtection=False)
    assert refused.value.status_code == 400
    assert "irreversible" in refused.value.error.message


def test_purge_protection_stays_on_when_omitted_on_update(emulator, group):
    name = unique_vault_name()
    create_vault(emulator, group, name)
    again = create_vault(emulator, group, name, enablePurgeProtection=None)
    assert again.properties.enable_purge_protection is True


def test_soft_delete_cannot_be_turned_off(emulator, group):
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, enableSoftDelete=False)
    assert refused.value.status_code == 400


@pytest.mark.parametrize("days", [6, 91, 0])
def test_retention_must_be_between_7_and_90_days(emulator, group, days):
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, softDeleteRetentionInDays=days)
    assert refused.value.status_code == 400


def test_retention_is_immutable_once_set(emulator, group):
    name = unique_vault_name()
    create_vault(emulator, group, name, softDeleteRetentionInDays=7)
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, name, softDeleteRetentionInDays=30)
    assert refused.value.status_code == 400
    client = emulator.keyvault_mgmt_client()
    with pytest.raises(HttpResponseError):
        client.vaults.update(group, name, {"properties": {"softDeleteRetentionInDays": 90}})
    assert client.vaults.get(group, name).properties.soft_delete_retention_in_days == 7


def test_location_cannot_change(emulator, group):
    name = unique_vault_name()
    create_vault(emulator, group, name)
    body = vault_parameters(emulator)
    body["location"] = "northeurope"
    client = emulator.keyvault_mgmt_client()
    with pytest.raises(HttpResponseError) as refused:
        client.vaults.begin_create_or_update(group, name, body).result()
    assert error_code(refused.value) == "InvalidResourceLocation"


def test_missing_resource_group_is_reported(emulator):
    with pytest.raises(ResourceNotFoundError) as missing:
        create_vault(emulator, "rg-does-not-exist")
    assert error_code(missing.value) == "ResourceGroupNotFound"


def test_delete_soft_deletes_keeps_secrets_and_removes_assignments(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    vault = create_vault(emulator, group, name)
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)
    emulator.assign_role("app", "Key Vault Secrets User", f"{vault.id}/secrets/kept")
    emulator.secret_client(vault.properties.vault_uri, "sync").set_secret("kept", "v1")
    before = {a.scope for a in emulator.world.role_assignments.all()}
    assert vault.id in before

    client.vaults.delete(group, name)

    with pytest.raises(ResourceNotFoundError):
        client.vaults.get(group, name)
    deleted = client.vaults.get_deleted(name, "westeurope")
    assert deleted.properties.vault_id == vault.id
    assert deleted.properties.purge_protection_enabled is True
    assert deleted.properties.scheduled_purge_date > deleted.properties.deletion_date
    assert name in [d.name for d in client.vaults.list_deleted()]
    assert name not in [v.name for v in client.vaults.list_by_resource_group(group)]
    remaining = [a.scope.lower() for a in emulator.world.role_assignments.all()]
    assert not any(scope.startswith(vault.id.lower()) for scope in remaining)
    gone = emulator.secret_client(vault.properties.vault_uri, "sync", retry_total=0)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):  # connection dropped
        gone.get_secret("kept")
    # Deleting what is already deleted is not an error (204).
    client.vaults.delete(group, name)


def test_recreating_a_soft_deleted_name_is_a_conflict_naming_it(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    create_vault(emulator, group, name)
    client.vaults.delete(group, name)
    with pytest.raises(HttpResponseError) as conflict:
        create_vault(emulator, group, name)
    assert conflict.value.status_code == 409
    assert error_code(conflict.value) == "ConflictError"
    assert name in conflict.value.error.message
    availability = client.vaults.check_name_availability(
        {"name": name, "type": "Microsoft.KeyVault/vaults"}
    )
    assert availability.name_available is False


def test_recover_restores_vault_and_secrets_but_not_assignments(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    vault = create_vault(emulator, group, name)
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)
    emulator.secret_client(vault.properties.vault_uri, "sync").set_secret("kept", "v1")
    client.vaults.delete(group, name)

    recovered = create_vault(emulator, group, name, createMode="recover")

    assert recovered.properties.vault_uri == vault.properties.vault_uri
    assert client.vaults.get(group, name).id == vault.id
    with pytest.raises(ResourceNotFoundError):
        client.vaults.get_deleted(name, "westeurope")
    officer = emulator.secret_client(vault.properties.vault_uri, "sync")
    with pytest.raises(HttpResponseError) as denied:
        officer.get_secret("kept")
    assert denied.value.status_code == 403
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.id)
    assert officer.get_secret("kept").value == "v1"


def test_recover_with_nothing_to_recover_fails(emulator, group):
    with pytest.raises(HttpResponseError) as refused:
        create_vault(emulator, group, createMode="recover")
    assert error_code(refused.value) == "SoftDeletedVaultDoesNotExist"


def test_purge_is_refused_under_purge_protection(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    create_vault(emulator, group, name)
    client.vaults.delete(group, name)
    with pytest.raises(HttpResponseError) as refused:
        client.vaults.begin_purge_deleted(name, "westeurope").result()
    assert error_code(refused.value) == "InvalidOperation"
    assert client.vaults.get_deleted(name, "westeurope").name == name


def test_purge_without_protection_frees_the_name(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    vault = create_vault(emulator, group, name, enablePurgeProtection=None)
    assert not vault.properties.enable_purge_protection
    client.vaults.delete(group, name)
    client.vaults.begin_purge_deleted(name, "westeurope").result()
    with pytest.raises(ResourceNotFoundError):
        client.vaults.get_deleted(name, "westeurope")
    assert client.vaults.check_name_availability(
        {"name": name, "type": "Microsoft.KeyVault/vaults"}
    ).name_available
    fresh = create_vault(emulator, group, name)
    emulator.assign_role("sync", "Key Vault Secrets Officer", fresh.id)
    listing = emulator.secret_client(fresh.properties.vault_uri, "sync")
    assert list(listing.list_properties_of_secrets()) == []


def test_check_name_availability_reports_invalid_names(emulator):
    result = emulator.keyvault_mgmt_client().vaults.check_name_availability(
        {"name": "x--y", "type": "Microsoft.KeyVault/vaults"}
    )
    assert result.name_available is False
    assert result.reason == "AccountNameInvalid"
    fresh = emulator.keyvault_mgmt_client().vaults.check_name_availability(
        {"name": unique_vault_name(), "type": "Microsoft.KeyVault/vaults"}
    )
    assert fresh.name_available is True


def test_access_policies_can_be_added_and_removed(emulator, group):
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name()
    vault = create_vault(emulator, group, name, enableRbacAuthorization=False)
    entry = {
        "tenantId": emulator.tenant_id,
        "objectId": emulator.object_id("app"),
        "permissions": {"secrets": ["get", "list"]},
    }
    client.vaults.update_access_policy(
        group, name, "add", {"properties": {"accessPolicies": [entry]}}
    )
    app = emulator.secret_client(vault.properties.vault_uri, "app")
    assert list(app.list_properties_of_secrets()) == []
    removal = dict(entry, permissions={"secrets": ["get", "list"]})
    client.vaults.update_access_policy(
        group, name, "remove", {"properties": {"accessPolicies": [removal]}}
    )
    assert client.vaults.get(group, name).properties.access_policies == []


def test_resource_group_delete_soft_deletes_its_vaults(emulator):
    resources = emulator.resource_client()
    doomed = new_group(emulator, "rg-doomed")
    name = unique_vault_name()
    create_vault(emulator, doomed, name)
    resources.resource_groups.begin_delete(doomed).result()
    assert resources.resource_groups.check_existence(doomed) is False
    deleted = emulator.keyvault_mgmt_client().vaults.get_deleted(name, "westeurope")
    assert deleted.properties.vault_id.lower().startswith(
        f"/subscriptions/{emulator.subscription_id}/resourcegroups/{doomed}".lower()
    )


def test_resource_groups_create_update_list_and_refuse_a_move(emulator):
    resources = emulator.resource_client()
    name = f"rg-life-{unique_vault_name()}"
    created = resources.resource_groups.create_or_update(name, {"location": "West Europe"})
    assert created.location == "westeurope"
    updated = resources.resource_groups.create_or_update(
        name, {"location": "westeurope", "tags": {"a": "b"}}
    )
    assert updated.tags == {"a": "b"}
    assert resources.resource_groups.get(name).tags == {"a": "b"}
    assert name in [g.name for g in resources.resource_groups.list()]
    with pytest.raises(HttpResponseError) as moved:
        resources.resource_groups.create_or_update(name, {"location": "northeurope"})
    assert error_code(moved.value) == "InvalidResourceGroupLocation"
    with pytest.raises(ResourceNotFoundError):
        resources.resource_groups.get(f"{name}-missing")


def test_a_vault_created_without_the_rbac_flag_omits_it_and_uses_access_policies(emulator, group):
    # Before api-version 2026-02-01 an unset flag means access policies; Azure's
    # answer then has no enableRbacAuthorization key at all.
    name = unique_vault_name()
    path = (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.KeyVault/vaults/{name}"
    )
    body = vault_parameters(
        emulator,
        enableRbacAuthorization=None,
        accessPolicies=[
            {
                "tenantId": emulator.tenant_id,
                "objectId": emulator.object_id("sync"),
                "permissions": {"secrets": ["all"]},
            }
        ],
    )
    status, created, _ = emulator.arm_request("PUT", path, body=body, api_version="2025-05-01")
    assert status in (200, 201), created
    assert "enableRbacAuthorization" not in created["properties"]
    status, read, _ = emulator.arm_request("GET", path, api_version="2025-05-01")
    assert status == 200
    assert "enableRbacAuthorization" not in read["properties"]
    vault = emulator.keyvault_mgmt_client().vaults.get(group, name)
    assert vault.properties.enable_rbac_authorization is None
    uri = vault.properties.vault_uri
    emulator.secret_client(uri, "sync").set_secret("by-policy", "v")  # its access policy
    emulator.assign_role("app", "Key Vault Secrets User", vault.id)  # ignored: no RBAC
    with pytest.raises(HttpResponseError) as denied:
        emulator.secret_client(uri, "app").get_secret("by-policy")
    assert denied.value.status_code == 403
    assert denied.value.error.innererror["code"] == "AccessDenied"


def test_a_vault_created_without_the_rbac_flag_at_the_current_api_version_uses_rbac(
    emulator, group
):
    vault = create_vault(emulator, group, enableRbacAuthorization=None)
    assert vault.properties.enable_rbac_authorization is True
