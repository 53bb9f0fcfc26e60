"""RBAC on the data plane: data actions per principal and scope."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError


def _forbidden(call, *args, **kwargs):
    with pytest.raises(HttpResponseError) as denied:
        call(*args, **kwargs)
    assert denied.value.status_code == 403, denied.value
    assert denied.value.error.innererror["code"] == "ForbiddenByRbac"
    return denied.value


@pytest.fixture
def seeded(emulator, vault):
    officer = emulator.secret_client(vault, "sync")
    officer.set_secret("shared", "v")
    officer.set_secret("deleted-one", "v")
    officer.begin_delete_secret("deleted-one", _polling_interval=0.05).result()
    return vault


def test_secrets_user_can_get_and_list_but_not_write(emulator, seeded):
    app = emulator.secret_client(seeded, "app")
    assert app.get_secret("shared").value == "v"
    assert "shared" in [p.name for p in app.list_properties_of_secrets()]
    error = _forbidden(app.set_secret, "shared", "changed")
    assert "Microsoft.KeyVault/vaults/secrets/setSecret/action" in error.message
    _forbidden(app.update_secret_properties, "shared", tags={"x": "y"})
    _forbidden(app.begin_delete_secret, "shared")
    _forbidden(app.purge_deleted_secret, "deleted-one")
    _forbidden(app.begin_recover_deleted_secret, "deleted-one")
    _forbidden(app.backup_secret, "shared")


def test_identity_without_assignment_is_denied_everything(emulator, seeded):
    outsider = emulator.secret_client(seeded, "outsider")
    _forbidden(outsider.get_secret, "shared")
    _forbidden(lambda: list(outsider.list_properties_of_secrets()))
    _forbidden(outsider.set_secret, "new", "v")
    _forbidden(lambda: list(outsider.list_deleted_secrets()))


def test_owner_of_the_subscription_has_no_data_access(emulator, seeded):
    deployer = emulator.secret_client(seeded, "deployer")
    _forbidden(deployer.get_secret, "shared")
    _forbidden(deployer.set_secret, "shared", "v")


def test_secret_scope_assignment_grants_that_secret_only(emulator, vault):
    officer = emulator.secret_client(vault, "sync")
    officer.set_secret("granted", "yes")
    officer.set_secret("other", "no")
    emulator.assign_role(
        "outsider", "Key Vault Secrets User", f"{vault.resource_id}/secrets/granted"
    )
    outsider = emulator.secret_client(vault, "outsider")
    assert outsider.get_secret("granted").value == "yes"
    assert outsider.get_secret("GRANTED").value == "yes"  # scopes compare case-insensitively
    _forbidden(outsider.get_secret, "other")
    _forbidden(lambda: list(outsider.list_properties_of_secrets()))


def test_assignment_above_the_vault_applies(emulator):
    vault = emulator.create_vault(resource_group="rg-inherited")
    rg_scope = vault.resource_id.split("/providers/")[0]
    emulator.assign_role("outsider", "Key Vault Administrator", rg_scope)
    client = emulator.secret_client(vault, "outsider")
    client.set_secret("admin-made", "v")
    assert client.get_secret("admin-made").value == "v"


def test_key_vault_reader_reads_metadata_not_values(emulator, vault):
    emulator.secret_client(vault, "sync").set_secret("meta-only", "v")
    emulator.assign_role("outsider", "Key Vault Reader", vault.resource_id)
    reader = emulator.secret_client(vault, "outsider")
    assert "meta-only" in [p.name for p in reader.list_properties_of_secrets()]
    _forbidden(reader.get_secret, "meta-only")


def test_access_policies_apply_when_rbac_is_off(emulator):
    vault = emulator.create_vault(rbac=False)
    sync_id = emulator.object_id("sync")

    def add_policy():
        world_vault = emulator.world.vaults[vault.name.lower()]
        world_vault.properties["accessPolicies"] = [
            {
                "tenantId": emulator.tenant_id,
                "objectId": sync_id,
                "permissions": {"secrets": ["get", "set", "list"]},
            }
        ]

    emulator.server.call(add_policy)
    client = emulator.secret_client(vault, "sync")
    client.set_secret("policy", "v")
    assert client.get_secret("policy").value == "v"
    with pytest.raises(HttpResponseError) as denied:
        client.begin_delete_secret("policy")
    assert denied.value.status_code == 403
    assert "does not have secrets delete permission" in denied.value.message
    with pytest.raises(HttpResponseError):
        emulator.secret_client(vault, "app").get_secret("policy")
