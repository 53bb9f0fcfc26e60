"""Role definitions and assignments with the unmodified azure-mgmt-authorization client."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from keyvault_emulator.config import EmulatorConfig
from keyvault_emulator.testing import RunningEmulator

from .arm_support import (
    CONTRIBUTOR,
    SECRETS_OFFICER,
    SECRETS_USER,
    assignment_parameters,
    create_vault,
    error_code,
    new_group,
)


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-ra")


@pytest.fixture
def vault(emulator: RunningEmulator, group: str):  # shadows the data-plane fixture on purpose
    return create_vault(emulator, group)


def test_builtin_role_definitions_have_real_ids_and_permissions(emulator, vault):
    client = emulator.authorization_client()
    names = {d.role_name: d for d in client.role_definitions.list(vault.id)}
    for wanted in (
        "Owner",
        "Contributor",
        "Reader",
        "User Access Administrator",
        "Key Vault Administrator",
        "Key Vault Secrets Officer",
        "Key Vault Secrets User",
        "Key Vault Reader",
    ):
        assert wanted in names
    user = client.role_definitions.get(vault.id, SECRETS_USER)
    assert user.role_name == "Key Vault Secrets User"
    assert user.role_type == "BuiltInRole"
    assert "Microsoft.KeyVault/vaults/secrets/getSecret/action" in user.permissions[0].data_actions
    assert user.id == (
        f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{SECRETS_USER}"
    )
    owner = client.role_definitions.get_by_id(
        f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.Authorization/"
        "roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    )
    assert owner.role_name == "Owner"
    assert owner.permissions[0].data_actions == []  # owning grants no data access
    filtered = list(client.role_definitions.list(vault.id, filter="roleName eq 'Contributor'"))
    assert [d.name for d in filtered] == [CONTRIBUTOR]
    with pytest.raises(ResourceNotFoundError) as missing:
        client.role_definitions.get(vault.id, str(uuid.uuid4()))
    assert error_code(missing.value) == "RoleDefinitionDoesNotExist"


def test_create_then_idempotent_reput(emulator, vault):
    client = emulator.authorization_client()
    name = str(uuid.uuid4())
    parameters = assignment_parameters(
        emulator, SECRETS_USER, emulator.object_id("app"), "ServicePrincipal"
    )
    created = client.role_assignments.create(vault.id, name, parameters)
    assert created.name == name
    assert created.scope == vault.id
    assert created.principal_id == emulator.object_id("app")
    assert created.role_definition_id.endswith(SECRETS_USER)
    again = client.role_assignments.create(vault.id, name, parameters)
    assert again.id == created.id
    assert again.created_on == created.created_on
    statuses = [
        r.status
        for r in emulator.audit(plane="arm", operation="RoleAssignmentPut")
        if r.resource.endswith(name)
    ]
    assert statuses == [201, 200]
    fetched = client.role_assignments.get(vault.id, name)
    assert fetched.id == created.id
    assert client.role_assignments.get_by_id(created.id).name == name


def test_same_triple_under_another_name_is_409(emulator, vault):
    client = emulator.authorization_client()
    parameters = assignment_parameters(
        emulator, SECRETS_USER, emulator.object_id("app"), "ServicePrincipal"
    )
    first = client.role_assignments.create(vault.id, str(uuid.uuid4()), parameters)
    with pytest.raises(ResourceExistsError) as exists:
        client.role_assignments.create(vault.id, str(uuid.uuid4()), parameters)
    assert exists.value.status_code == 409
    assert error_code(exists.value) == "RoleAssignmentExists"
    assert first.name.replace("-", "") in exists.value.error.message


def test_reusing_a_name_for_another_principal_or_scope_is_refused(emulator, vault, group):
    client = emulator.authorization_client()
    name = str(uuid.uuid4())
    client.role_assignments.create(
        vault.id,
        name,
        assignment_parameters(
            emulator, SECRETS_USER, emulator.object_id("app"), "ServicePrincipal"
        ),
    )
    other_principal = assignment_parameters(
        emulator, SECRETS_USER, emulator.object_id("sync"), "ServicePrincipal"
    )
    with pytest.raises(HttpResponseError) as refused:
        client.role_assignments.create(vault.id, name, other_principal)
    assert error_code(refused.value) == "RoleAssignmentUpdateNotPermitted"
    group_scope = f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
    with pytest.raises(HttpResponseError) as moved:
        client.role_assignments.create(
            group_scope,
            name,
            assignment_parameters(
                emulator, SECRETS_USER, emulator.object_id("app"), "ServicePrincipal"
            ),
        )
    assert error_code(moved.value) == "RoleAssignmentUpdateNotPermitted"


def test_description_can_be_updated_in_place(emulator, vault):
    client = emulator.authorization_client()
    name = str(uuid.uuid4())
    parameters = assignment_parameters(
        emulator, SECRETS_USER, emulator.object_id("app"), "ServicePrincipal"
    )
    client.role_assignments.create(vault.id, name, parameters)
    parameters["properties"]["description"] = "reads org secrets"
    updated = client.role_assignments.create(vault.id, name, parameters)
    assert updated.description == "reads org secrets"


def test_unknown_principal_is_principal_not_found(emulator, vault):
    client = emulator.authorization_client()
    for principal_type in (None, "ServicePrincipal"):
        with pytest.raises(HttpResponseError) as missing:
            client.role_assignments.create(
                vault.id,
                str(uuid.uuid4()),
                assignment_parameters(emulator, SECRETS_USER, str(uuid.uuid4()), principal_type),
            )
        assert missing.value.status_code == 400
        assert error_code(missing.value) == "PrincipalNotFound"


def test_principal_type_must_match_the_directory(emulator, vault):
    with pytest.raises(HttpResponseError) as mismatch:
        emulator.authorization_client().role_assignments.create(
            vault.id,
            str(uuid.uuid4()),
            assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app"), "User"),
        )
    assert error_code(mismatch.value) == "UnmatchedPrincipalType"


def test_new_principal_needs_principal_type_until_replicated(emulator, vault):
    client = emulator.authorization_client()
    fresh = emulator.declare_identity(f"fresh-{uuid.uuid4().hex[:8]}", replicate_after_s=3600)
    with pytest.raises(HttpResponseError) as early:
        client.role_assignments.create(
            vault.id, str(uuid.uuid4()), assignment_parameters(emulator, SECRETS_USER, fresh)
        )
    assert error_code(early.value) == "PrincipalNotFound"
    created = client.role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        assignment_parameters(emulator, SECRETS_USER, fresh, "ServicePrincipal"),
    )
    assert created.principal_id == fresh
    replicated = emulator.declare_identity(f"known-{uuid.uuid4().hex[:8]}", replicate_after_s=0)
    assert (
        client.role_assignments.create(
            vault.id, str(uuid.uuid4()), assignment_parameters(emulator, SECRETS_USER, replicated)
        ).principal_type
        == "ServicePrincipal"
    )


def test_bad_names_and_unknown_roles_are_refused(emulator, vault):
    client = emulator.authorization_client()
    app = emulator.object_id("app")
    with pytest.raises(HttpResponseError) as bad_name:
        client.role_assignments.create(
            vault.id, "not-a-guid", assignment_parameters(emulator, SECRETS_USER, app)
        )
    assert error_code(bad_name.value) == "InvalidRoleAssignmentId"
    with pytest.raises(HttpResponseError) as bad_role:
        client.role_assignments.create(
            vault.id, str(uuid.uuid4()), assignment_parameters(emulator, str(uuid.uuid4()), app)
        )
    assert error_code(bad_role.value) == "RoleDefinitionDoesNotExist"


def test_list_for_scope_filters(emulator, vault, group):
    client = emulator.authorization_client()
    app, sync = emulator.object_id("app"), emulator.object_id("sync")
    secret_scope = f"{vault.id}/secrets/only-this"
    at_vault = client.role_assignments.create(
        vault.id, str(uuid.uuid4()), assignment_parameters(emulator, SECRETS_OFFICER, sync)
    )
    below = client.role_assignments.create(
        secret_scope, str(uuid.uuid4()), assignment_parameters(emulator, SECRETS_USER, app)
    )
    everything = {a.name for a in client.role_assignments.list_for_scope(vault.id)}
    assert {at_vault.name, below.name} <= everything
    at_scope = {
        a.name for a in client.role_assignments.list_for_scope(vault.id, filter="atScope()")
    }
    assert at_vault.name in at_scope
    assert below.name not in at_scope
    deployer_owner = [
        a
        for a in client.role_assignments.list_for_scope(vault.id, filter="atScope()")
        if a.scope == f"/subscriptions/{emulator.subscription_id}"
    ]
    assert deployer_owner  # assignments above the scope are listed too
    mine = list(client.role_assignments.list_for_scope(vault.id, filter=f"principalId eq '{app}'"))
    assert {a.principal_id for a in mine} == {app}
    in_group = {a.name for a in client.role_assignments.list_for_resource_group(group)}
    assert at_vault.name in in_group
    in_sub = {a.name for a in client.role_assignments.list_for_subscription()}
    assert below.name in in_sub
    with pytest.raises(HttpResponseError):
        list(client.role_assignments.list_for_scope(vault.id, filter="nonsense eq 1"))


def test_delete_and_get_missing(emulator, vault):
    client = emulator.authorization_client()
    name = str(uuid.uuid4())
    client.role_assignments.create(
        vault.id, name, assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app"))
    )
    removed = client.role_assignments.delete(vault.id, name)
    assert removed.name == name
    assert client.role_assignments.delete(vault.id, name) is None  # 204
    with pytest.raises(ResourceNotFoundError) as missing:
        client.role_assignments.get(vault.id, name)
    assert error_code(missing.value) == "RoleAssignmentNotFound"


def test_vault_delete_removes_assignments_made_through_arm(emulator, group):
    vault = create_vault(emulator, group)
    client = emulator.authorization_client()
    name = str(uuid.uuid4())
    client.role_assignments.create(
        vault.id, name, assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app"))
    )
    emulator.keyvault_mgmt_client().vaults.delete(group, vault.name)
    assert name not in {a.name for a in client.role_assignments.list_for_subscription()}
    with pytest.raises(HttpResponseError):  # the scope itself is gone
        client.role_assignments.get(vault.id, name)


def test_data_plane_read_is_denied_until_an_arm_assignment_grants_it(emulator, vault):
    owner = emulator.secret_client(vault.properties.vault_uri, "deployer")
    with pytest.raises(HttpResponseError) as owner_denied:
        owner.set_secret("greeting", "hello")
    assert owner_denied.value.status_code == 403  # subscription Owner: no data actions
    emulator.authorization_client().role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        assignment_parameters(emulator, SECRETS_OFFICER, emulator.object_id("sync")),
    )
    emulator.secret_client(vault.properties.vault_uri, "sync").set_secret("greeting", "hello")
    app = emulator.secret_client(vault.properties.vault_uri, "app")
    with pytest.raises(HttpResponseError) as denied:
        app.get_secret("greeting")
    assert denied.value.status_code == 403
    assert denied.value.error.innererror["code"] == "ForbiddenByRbac"
    emulator.authorization_client().role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app")),
    )
    assert app.get_secret("greeting").value == "hello"


def _eventually(action):
    """Retry a data-plane call until RBAC lets it through (bounded; never timed)."""
    for _ in range(200):
        try:
            return action()
        except HttpResponseError as error:
            if error.status_code != 403:
                raise
            time.sleep(0.05)
    return action()


def test_propagation_delay_holds_new_assignments_back():
    running = RunningEmulator(EmulatorConfig().with_changes(rbac_propagation_delay_s=0.5))
    try:
        vault = create_vault(running, new_group(running))
        running.assign_role("sync", "Key Vault Secrets Officer", vault.id)
        officer = running.secret_client(vault.properties.vault_uri, "sync", retry_total=0)
        _eventually(lambda: officer.set_secret("s", "v"))
        created = running.authorization_client().role_assignments.create(
            vault.id,
            str(uuid.uuid4()),
            assignment_parameters(running, SECRETS_USER, running.object_id("app")),
        )
        stored = running.world.role_assignments.get(created.name)
        assert stored is not None and stored.effective_at > stored.created_on
        app = running.secret_client(vault.properties.vault_uri, "app", retry_total=0)
        with pytest.raises(HttpResponseError) as pending:
            app.get_secret("s")
        assert pending.value.status_code == 403
        assert _eventually(lambda: app.get_secret("s")).value == "v"
    finally:
        running.stop()
