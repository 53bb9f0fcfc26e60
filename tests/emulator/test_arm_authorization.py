"""Who may call Resource Manager: vault writes, role assignment writes, RBAC mode changes."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import (
    SECRETS_USER,
    assignment_parameters,
    create_vault,
    error_code,
    new_group,
    vault_parameters,
)


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-authz")


def _principal_with(emulator: RunningEmulator, role: str, scope: str) -> str:
    name = f"{role.lower().replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
    emulator.declare_identity(name)
    emulator.assign_role(name, role, scope)
    return name


def _refused(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as refused:
        call()
    assert refused.value.status_code == 403
    assert error_code(refused.value) == "AuthorizationFailed"
    return refused.value


def test_a_caller_without_rights_gets_authorization_failed(emulator, group):
    outsider = emulator.object_id("outsider")
    name = unique_vault_name()
    vaults = emulator.keyvault_mgmt_client("outsider").vaults
    error = _refused(
        lambda: vaults.begin_create_or_update(group, name, vault_parameters(emulator)).result()
    )
    scope = f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
    assert error.error.message == (
        f"The client '{outsider}' with object id '{outsider}' does not have authorization to "
        "perform action 'Microsoft.KeyVault/vaults/write' over scope "
        f"'{scope}/providers/Microsoft.KeyVault/vaults/{name}' or the scope is invalid. If "
        "access was recently granted, please refresh your credentials."
    )
    _refused(lambda: vaults.get(group, name))
    _refused(
        lambda: emulator.resource_client("outsider").resource_groups.create_or_update(
            "rg-outsider", {"location": "westeurope"}
        )
    )
    vault = create_vault(emulator, group)
    _refused(
        lambda: emulator.authorization_client("outsider").role_assignments.create(
            vault.id, str(uuid.uuid4()), assignment_parameters(emulator, SECRETS_USER, outsider)
        )
    )
    denied = [
        r for r in emulator.audit(plane="arm") if r.identity == "outsider" and r.status == 403
    ]
    assert {r.method for r in denied} >= {"PUT", "GET"}


def test_data_plane_roles_grant_nothing_at_arm(emulator, group):
    vault = create_vault(emulator, group)
    emulator.assign_role("app", "Key Vault Secrets User", vault.id)
    _refused(lambda: emulator.keyvault_mgmt_client("app").vaults.get(group, vault.name))


def test_contributor_writes_vaults_but_not_role_assignments(emulator, group):
    contributor = _principal_with(
        emulator, "Contributor", f"/subscriptions/{emulator.subscription_id}"
    )
    vault = create_vault(emulator, group)
    vaults = emulator.keyvault_mgmt_client(contributor).vaults
    created = vaults.begin_create_or_update(
        group, unique_vault_name(), vault_parameters(emulator)
    ).result()
    assert created.properties.provisioning_state == "Succeeded"
    error = _refused(
        lambda: emulator.authorization_client(contributor).role_assignments.create(
            vault.id,
            str(uuid.uuid4()),
            assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app")),
        )
    )
    assert "Microsoft.Authorization/roleAssignments/write" in error.error.message
    # Changing the permission model needs roleAssignments/write as well.
    _refused(
        lambda: vaults.update(group, vault.name, {"properties": {"enableRbacAuthorization": False}})
    )
    other_changes = vaults.update(group, vault.name, {"tags": {"by": "contributor"}})
    assert other_changes.tags == {"by": "contributor"}


def test_user_access_administrator_assigns_roles_but_cannot_write_vaults(emulator, group):
    admin = _principal_with(
        emulator, "User Access Administrator", f"/subscriptions/{emulator.subscription_id}"
    )
    vault = create_vault(emulator, group)
    created = emulator.authorization_client(admin).role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app")),
    )
    assert created.scope == vault.id
    _refused(
        lambda: (
            emulator.keyvault_mgmt_client(admin)
            .vaults.begin_create_or_update(group, unique_vault_name(), vault_parameters(emulator))
            .result()
        )
    )


def test_rbac_mode_change_needs_unconditioned_role_assignment_write(emulator, group):
    vault = create_vault(emulator, group)
    # Contributor on the vault plus a *conditioned* RBAC administrator assignment:
    # the condition makes it a restricted grant, which Azure does not accept here.
    name = _principal_with(emulator, "Contributor", vault.id)
    principal = emulator.object_id(name)
    emulator.authorization_client().role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        {
            "properties": {
                "roleDefinitionId": (
                    f"/subscriptions/{emulator.subscription_id}/providers/"
                    "Microsoft.Authorization/roleDefinitions/f58310d9-a9f6-439a-9e8d-f62e7b41a168"
                ),
                "principalId": principal,
                "principalType": "ServicePrincipal",
                "condition": (
                    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
                    "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
                    f"ForAnyOfAnyValues:GuidEquals {{{SECRETS_USER}}}))"
                ),
                "conditionVersion": "2.0",
            }
        },
    )
    vaults = emulator.keyvault_mgmt_client(name).vaults
    _refused(
        lambda: vaults.update(group, vault.name, {"properties": {"enableRbacAuthorization": False}})
    )
    owner = emulator.keyvault_mgmt_client().vaults
    switched = owner.update(group, vault.name, {"properties": {"enableRbacAuthorization": False}})
    assert switched.properties.enable_rbac_authorization is False
