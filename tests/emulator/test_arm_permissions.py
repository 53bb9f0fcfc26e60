"""The caller's effective permissions (Microsoft.Authorization/permissions).

Through the unmodified ``AuthorizationManagementClient`` (api-version
2022-04-01): ``permissions.list_for_resource_group`` and
``permissions.list_for_resource``, answering one entry per role assignment of
the caller at or above the scope, from the built-in role definitions.
"""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from keyvault_emulator.authorization.roles import role_by_name
from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import SECRETS_USER, assignment_parameters, create_vault, error_code, new_group


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-perms")


def _identity(emulator: RunningEmulator, label: str) -> str:
    name = f"{label}-{uuid.uuid4().hex[:6]}"
    emulator.declare_identity(name)
    return name


def _entries(permissions) -> list[tuple[list[str], list[str], list[str], list[str]]]:
    return [(p.actions, p.not_actions, p.data_actions, p.not_data_actions) for p in permissions]


def _role(name: str) -> tuple[list[str], list[str], list[str], list[str]]:
    role = role_by_name(name)
    assert role is not None
    return (
        list(role.actions),
        list(role.not_actions),
        list(role.data_actions),
        list(role.not_data_actions),
    )


def test_contributor_on_the_group_sees_its_role_with_not_actions(emulator, group):
    who = _identity(emulator, "contrib")
    group_id = f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
    emulator.assign_role(who, "Contributor", group_id)
    client = emulator.authorization_client(who)
    entries = _entries(client.permissions.list_for_resource_group(group))
    assert entries == [_role("Contributor")]
    assert "Microsoft.Authorization/*/Write" in entries[0][1]


def test_owner_of_the_subscription_sees_it_at_any_group(emulator, group):
    client = emulator.authorization_client("deployer")
    assert _role("Owner") in _entries(client.permissions.list_for_resource_group(group))


def test_a_vault_scope_adds_the_assignments_made_on_the_vault(emulator, group):
    who = _identity(emulator, "layered")
    vault = create_vault(emulator, group)
    group_id = f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
    emulator.assign_role(who, "Reader", group_id)
    emulator.assign_role(who, "Key Vault Secrets User", vault.id)
    emulator.assign_role(who, "Key Vault Secrets Officer", f"{vault.id}/secrets/only-this")
    other = create_vault(emulator, group)
    emulator.assign_role(who, "Key Vault Administrator", other.id)

    client = emulator.authorization_client(who)
    at_vault = _entries(
        client.permissions.list_for_resource(group, "Microsoft.KeyVault", "", "vaults", vault.name)
    )
    # Broadest scope first; the secret below and the other vault beside do not count.
    assert at_vault == [_role("Reader"), _role("Key Vault Secrets User")]

    at_secret = _entries(
        client.permissions.list_for_resource(
            group, "Microsoft.KeyVault", f"vaults/{vault.name}", "secrets", "only-this"
        )
    )
    assert at_secret == [
        _role("Reader"),
        _role("Key Vault Secrets User"),
        _role("Key Vault Secrets Officer"),
    ]
    assert _entries(client.permissions.list_for_resource_group(group)) == [_role("Reader")]


def test_one_entry_per_assignment_even_for_the_same_role(emulator, group):
    who = _identity(emulator, "twice")
    vault = create_vault(emulator, group)
    emulator.assign_role(who, "Reader", f"/subscriptions/{emulator.subscription_id}")
    emulator.assign_role(who, "Reader", vault.id)
    client = emulator.authorization_client(who)
    entries = _entries(
        client.permissions.list_for_resource(group, "Microsoft.KeyVault", "", "vaults", vault.name)
    )
    assert entries == [_role("Reader"), _role("Reader")]


def test_a_caller_without_assignments_gets_an_empty_list(emulator, group):
    who = _identity(emulator, "nobody")
    client = emulator.authorization_client(who)
    assert list(client.permissions.list_for_resource_group(group)) == []


def test_unknown_group_and_vault_are_not_found(emulator, group):
    client = emulator.authorization_client("deployer")
    with pytest.raises(ResourceNotFoundError) as missing_group:
        list(client.permissions.list_for_resource_group(f"rg-missing-{uuid.uuid4().hex[:6]}"))
    assert error_code(missing_group.value) == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError):
        list(
            client.permissions.list_for_resource(
                group, "Microsoft.KeyVault", "", "vaults", unique_vault_name()
            )
        )


def test_conditions_appear_from_the_api_version_that_models_them(emulator, group):
    who = _identity(emulator, "conditioned")
    vault = create_vault(emulator, group)
    condition = (
        "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEqualsIgnoreCase 'only-this'"
    )
    parameters = assignment_parameters(
        emulator, SECRETS_USER, emulator.object_id(who), "ServicePrincipal"
    )
    parameters["properties"].update(condition=condition, conditionVersion="2.0")
    emulator.authorization_client().role_assignments.create(vault.id, str(uuid.uuid4()), parameters)

    stable = emulator.authorization_client(who)
    [entry] = stable.permissions.list_for_resource(
        group, "Microsoft.KeyVault", "", "vaults", vault.name
    )
    assert not hasattr(entry, "condition")
    preview = emulator.authorization_client(who, api_version="2022-05-01-preview")
    [entry] = preview.permissions.list_for_resource(
        group, "Microsoft.KeyVault", "", "vaults", vault.name
    )
    assert (entry.condition, entry.condition_version) == (condition, "2.0")


def test_requests_are_audited_reads_under_the_arm_pipeline(emulator, group):
    who = _identity(emulator, "audited")
    marker_client = emulator.authorization_client(who)
    list(marker_client.permissions.list_for_resource_group(group))
    records = [r for r in emulator.audit(plane="arm") if r.identity == who]
    assert [(r.operation, r.method, r.status) for r in records] == [
        ("PermissionsListForResourceGroup", "GET", 200)
    ]
    assert not records[0].is_write
    assert records[0].resource.endswith(f"/{group}/providers/Microsoft.Authorization/permissions")


def test_wire_shape_and_api_version_errors(emulator, group):
    path = (
        f"/subscriptions/{emulator.subscription_id}/resourcegroups/{group}"
        "/providers/Microsoft.Authorization/permissions"
    )
    status, body, _ = emulator.arm_request("GET", path, api_version="2022-04-01")
    assert status == 200
    assert set(body) == {"value"}
    assert all(
        set(entry) == {"actions", "notActions", "dataActions", "notDataActions"}
        for entry in body["value"]
    )
    status, body, _ = emulator.arm_request("GET", path, api_version="2099-01-01")
    assert status == 400 and body["error"]["code"] == "NoRegisteredProviderFound"
    status, body, _ = emulator.arm_request("GET", path, identity=None, api_version="2022-04-01")
    assert status == 401
    status, body, _ = emulator.arm_request("DELETE", path, api_version="2022-04-01")
    assert status == 405


def test_faults_apply_to_the_permissions_api(emulator, group):
    emulator.set_faults(
        None, error_rate=1.0, statuses=(500,), operations={"PermissionsListForResourceGroup"}
    )
    try:
        client = emulator.authorization_client("deployer", retry_total=0)
        with pytest.raises(HttpResponseError) as failed:
            list(client.permissions.list_for_resource_group(group))
        assert failed.value.status_code == 500
        # Other operations are untouched.
        client.role_definitions.get(f"/subscriptions/{emulator.subscription_id}", SECRETS_USER)
    finally:
        emulator.clear_faults(None)
