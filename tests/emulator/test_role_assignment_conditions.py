"""Conditional (ABAC) role assignments grant only what their condition allows.

Everything goes through the unmodified azure-mgmt-authorization and
azure-keyvault-secrets clients.
"""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator

from .arm_support import (
    AUTH_API,
    OWNER,
    SECRETS_OFFICER,
    SECRETS_USER,
    assignment_parameters,
    create_vault,
    error_code,
    new_group,
    role_definition_id,
)

RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
SECRETS_USER_ONLY = (
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
    "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
    f"ForAnyOfAnyValues:GuidEquals {{{SECRETS_USER}}})) AND "
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
    f"ForAnyOfAnyValues:GuidEquals {{{SECRETS_USER}}}))"
)


@pytest.fixture(scope="module")
def group(emulator: RunningEmulator) -> str:
    return new_group(emulator, "rg-abac")


@pytest.fixture
def vault(emulator: RunningEmulator, group: str):  # shadows the data-plane fixture on purpose
    handle = create_vault(emulator, group)
    emulator.assign_role("sync", "Key Vault Secrets Officer", handle.id)
    return handle


def _identity(emulator: RunningEmulator, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    emulator.declare_identity(name, replicate_after_s=0)
    return name


def _assign(
    emulator: RunningEmulator,
    scope: str,
    role: str,
    principal: str,
    *,
    condition: str | None = None,
    version: str | None = "2.0",
    as_identity: str = "deployer",
) -> object:
    parameters = assignment_parameters(
        emulator, role, emulator.object_id(principal), "ServicePrincipal"
    )
    if condition is not None:
        parameters["properties"]["condition"] = condition
        if version is not None:
            parameters["properties"]["conditionVersion"] = version
    return emulator.authorization_client(as_identity).role_assignments.create(
        scope, str(uuid.uuid4()), parameters
    )


def _forbidden(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as denied:
        call()
    assert denied.value.status_code == 403, denied.value
    return denied.value


# -- delegation: Role Based Access Control Administrator with a condition -----------------
def test_delegated_administrator_may_assign_only_the_roles_its_condition_names(emulator, vault):
    admin = _identity(emulator, "delegate")
    _assign(emulator, vault.id, RBAC_ADMIN, admin, condition=SECRETS_USER_ONLY)
    target = _identity(emulator, "delegated-to")

    allowed = _assign(emulator, vault.id, SECRETS_USER, target, as_identity=admin)
    assert allowed.role_definition_id.endswith(SECRETS_USER)

    denied = _forbidden(lambda: _assign(emulator, vault.id, OWNER, admin, as_identity=admin))
    assert error_code(denied) == "AuthorizationFailed"
    _forbidden(lambda: _assign(emulator, vault.id, SECRETS_OFFICER, target, as_identity=admin))
    # The condition does not stop the role's other actions (reads).
    client = emulator.authorization_client(admin)
    assert any(a.name == allowed.name for a in client.role_assignments.list_for_scope(vault.id))


def test_delegated_administrator_may_delete_only_the_roles_its_condition_names(emulator, vault):
    admin = _identity(emulator, "deleter")
    _assign(emulator, vault.id, RBAC_ADMIN, admin, condition=SECRETS_USER_ONLY)
    target = _identity(emulator, "deleted-from")
    user = _assign(emulator, vault.id, SECRETS_USER, target)
    officer = _assign(emulator, vault.id, SECRETS_OFFICER, target)
    client = emulator.authorization_client(admin).role_assignments
    _forbidden(lambda: client.delete(vault.id, officer.name))
    assert client.delete(vault.id, user.name).name == user.name
    owner_view = emulator.authorization_client().role_assignments
    assert owner_view.get(vault.id, officer.name).name == officer.name


def test_unconditioned_administrator_assigns_any_role(emulator, vault):
    admin = _identity(emulator, "free-admin")
    _assign(emulator, vault.id, RBAC_ADMIN, admin)
    target = _identity(emulator, "free-target")
    assert _assign(emulator, vault.id, SECRETS_OFFICER, target, as_identity=admin)


# -- Key Vault data: conditions on the secret's name ----------------------------------------
def test_secret_name_condition_limits_reads_to_that_secret(emulator, vault):
    officer = emulator.secret_client(vault.properties.vault_uri, "sync")
    officer.set_secret("allowed", "yes")
    officer.set_secret("forbidden", "no")
    reader = _identity(emulator, "named-reader")
    _assign(
        emulator,
        vault.id,
        SECRETS_USER,
        reader,
        condition="@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEquals 'allowed'",
    )
    client = emulator.secret_client(vault.properties.vault_uri, reader)
    assert client.get_secret("allowed").value == "yes"
    error = _forbidden(lambda: client.get_secret("forbidden"))
    assert error.error.innererror["code"] == "ForbiddenByRbac"
    # A listing names no secret: the condition cannot hold, so it grants nothing.
    _forbidden(lambda: list(client.list_properties_of_secrets()))
    # The decision for one secret is not reused for another (the cache keys on it).
    assert client.get_secret("allowed").value == "yes"
    _forbidden(lambda: client.get_secret("forbidden"))


def test_action_guarded_prefix_condition(emulator, vault):
    officer = emulator.secret_client(vault.properties.vault_uri, "sync")
    officer.set_secret("team-a--db", "a")
    officer.set_secret("team-b--db", "b")
    who = _identity(emulator, "prefix-officer")
    condition = (
        "((!(ActionMatches{'Microsoft.KeyVault/vaults/secrets/getSecret/action'})) OR "
        "(@Resource[Microsoft.KeyVault/vaults/secrets:name] StringStartsWith 'team-a--'))"
    )
    _assign(emulator, vault.id, SECRETS_USER, who, condition=condition)
    client = emulator.secret_client(vault.properties.vault_uri, who)
    assert client.get_secret("team-a--db").value == "a"
    _forbidden(lambda: client.get_secret("team-b--db"))
    # readMetadata is not the guarded action: the listing is allowed.
    names = {p.name for p in client.list_properties_of_secrets()}
    assert {"team-a--db", "team-b--db"} <= names


def test_condition_on_an_attribute_the_emulator_cannot_evaluate_grants_nothing(emulator, vault):
    officer = emulator.secret_client(vault.properties.vault_uri, "sync")
    officer.set_secret("tagged", "v")
    who = _identity(emulator, "unevaluable")
    _assign(
        emulator,
        vault.id,
        SECRETS_USER,
        who,
        condition="@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Team_x] "
        "StringEquals 'a'",
    )
    client = emulator.secret_client(vault.properties.vault_uri, who)
    _forbidden(lambda: client.get_secret("tagged"))


# -- what Resource Manager accepts ---------------------------------------------------------
@pytest.mark.parametrize(
    "condition",
    [
        "garbage(((",
        "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEquals",
        "@Resource[Microsoft.KeyVault/vaults/secrets:name] NoSuchOperator 'x'",
        "((!(ActionMatches{'x'})) OR (@Resource[a:b] StringEquals 'y')",
        "   ",
    ],
)
def test_conditions_that_do_not_parse_are_refused(emulator, vault, condition):
    who = _identity(emulator, "bad-condition")
    for version in ("2.0", None):
        with pytest.raises(HttpResponseError) as refused:
            _assign(emulator, vault.id, SECRETS_USER, who, condition=condition, version=version)
        assert refused.value.status_code == 400
        assert error_code(refused.value) == "InvalidConditionExpression"
        assert refused.value.error.message == "The given role assignment condition is invalid."


def test_condition_version_defaults_to_2_0_and_only_2_0_is_accepted(emulator, vault):
    condition = "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEquals 'x'"
    who = _identity(emulator, "versioned")
    created = _assign(emulator, vault.id, SECRETS_USER, who, condition=condition, version=None)
    assert created.condition_version == "2.0"
    path = f"{vault.id}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    status, body, _ = emulator.arm_request(
        "PUT",
        path,
        api_version=AUTH_API,
        body={
            "properties": {
                "roleDefinitionId": role_definition_id(emulator, SECRETS_OFFICER),
                "principalId": emulator.object_id(who),
                "principalType": "ServicePrincipal",
                "condition": condition,
                "conditionVersion": "1.0",
            }
        },
    )
    assert status == 400, body
    assert body["error"]["message"] == "The given role assignment condition is invalid."
