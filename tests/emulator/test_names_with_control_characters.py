"""Names with control characters or trailing whitespace are refused, as Key Vault refuses them.

A regex ``$`` also matches before a trailing newline, so ``name\\n`` once
passed the name check: the secret was stored under it, and the SDK then
listed it without the newline. Key Vault answers 400 ``BadParameter`` ("The
request URI contains an invalid name"); Resource Manager refuses such a
vault name with ``VaultNameNotValid``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from keyvault_emulator.testing import RunningEmulator, unique_vault_name

from .arm_support import (
    SECRETS_USER,
    assignment_parameters,
    error_code,
    new_group,
    vault_parameters,
)

BAD_NAMES = ["name\n", "name\r\n", "name ", "name\t", "\nname", "na\x1bme", "na\x00me", "name\x7f"]

OPERATIONS: dict[str, Callable[[Any, str], Any]] = {
    "set": lambda client, name: client.set_secret(name, "value"),
    "get": lambda client, name: client.get_secret(name),
    "update": lambda client, name: client.update_secret_properties(name, enabled=False),
    "versions": lambda client, name: list(client.list_properties_of_secret_versions(name)),
    "delete": lambda client, name: client.begin_delete_secret(name),
    "get deleted": lambda client, name: client.get_deleted_secret(name),
    "recover": lambda client, name: client.begin_recover_deleted_secret(name),
    "purge": lambda client, name: client.purge_deleted_secret(name),
    "backup": lambda client, name: client.backup_secret(name),
}


@pytest.fixture(scope="module")
def module_vault(emulator: RunningEmulator):
    handle = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets Officer", handle.resource_id)
    return handle


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_setting_a_secret_under_a_name_with_a_control_or_trailing_character_is_refused(
    emulator, module_vault, name
):
    client = emulator.secret_client(module_vault, "sync")
    with pytest.raises(HttpResponseError) as raised:
        client.set_secret(name, "value")
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "BadParameter"
    assert "The request URI contains an invalid name" in str(raised.value)
    assert "\n" not in raised.value.error.message  # escaped, never raw, in the message
    stored = {s.name for s in client.list_properties_of_secrets()}
    assert name.strip() not in stored and name not in stored


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_on_such_a_name_is_a_400_not_a_404(emulator, module_vault, operation):
    client = emulator.secret_client(module_vault, "sync")
    client.set_secret("twin", "value")  # a valid neighbour the bad name must not reach
    with pytest.raises(HttpResponseError) as raised:
        OPERATIONS[operation](client, "twin\n")
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "BadParameter"
    assert client.get_secret("twin").properties.enabled is True


def test_a_vault_name_with_a_trailing_newline_is_refused_by_resource_manager(emulator):
    group = new_group(emulator)
    client = emulator.keyvault_mgmt_client()
    name = unique_vault_name() + "\n"
    with pytest.raises(HttpResponseError) as raised:
        client.vaults.begin_create_or_update(group, name, vault_parameters(emulator)).result()
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "VaultNameNotValid"
    assert name.strip() not in {v.name for v in client.vaults.list_by_resource_group(group)}


@pytest.mark.parametrize("suffix", ["\n", " ", "\t", "\x1b"], ids=repr)
def test_name_availability_calls_such_a_vault_name_invalid(emulator, suffix):
    result = emulator.keyvault_mgmt_client().vaults.check_name_availability(
        {"name": unique_vault_name() + suffix, "type": "Microsoft.KeyVault/vaults"}
    )
    assert result.name_available is False
    assert result.reason == "AccountNameInvalid"


def test_a_resource_group_name_with_a_trailing_newline_is_refused(emulator):
    with pytest.raises(HttpResponseError) as raised:
        emulator.resource_client().resource_groups.create_or_update(
            "rg-newline\n", {"location": "westeurope"}
        )
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "InvalidResourceGroupName"


def test_a_role_assignment_name_with_a_trailing_newline_is_no_guid(emulator):
    vault = emulator.create_vault()
    parameters = assignment_parameters(emulator, SECRETS_USER, emulator.object_id("app"))
    client = emulator.authorization_client()
    with pytest.raises(HttpResponseError) as raised:
        client.role_assignments.create(vault.resource_id, f"{uuid.uuid4()}\n", parameters)
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "InvalidRoleAssignmentId"
    listed = client.role_assignments.list_for_scope(vault.resource_id)
    assert emulator.object_id("app") not in {a.principal_id for a in listed}
