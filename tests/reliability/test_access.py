"""Access: who can do what on a vault, through the real SecretClient over HTTPS.

The matrix the platform promises (DESIGN.md, "RBAC data actions per
principal and scope"):

- the app identity (Key Vault Secrets User) reads, and can do nothing else:
  no set, update, delete, recover, purge, backup or restore;
- an identity with no assignment can do nothing at all, not even list;
- the deployer, Owner of the subscription, has no data access unless a
  data role is granted to it, and then only what that role allows;
- purge is refused under purge protection for everyone, Key Vault
  Administrator included, on the data plane (secrets) and on ARM (vaults).

Each denial is checked three ways: the SDK raises 403 with inner code
``ForbiddenByRbac`` (or ``PurgeProtectionEnabled``); the emulator's audit
log shows no successful write by that identity; and the secrets the
denied calls aimed at are unchanged when read back by the sync identity.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

SEED_VALUE = f"access-seed-{uuid.uuid4().hex}"


def forbidden(
    call: Callable[[], Any], operation: str = "", *, expected: str = "ForbiddenByRbac"
) -> None:
    """``call`` (``operation``) is refused with 403 and the given inner error code."""
    with pytest.raises(HttpResponseError) as caught:
        result = call()
        # pagers and pollers only act when iterated or waited on
        if hasattr(result, "by_page"):
            list(result)
        elif hasattr(result, "result"):
            result.result()
    error = caught.value
    assert error.status_code == 403, (operation, error.status_code)
    inner = getattr(error.error, "innererror", None) or {}
    inner_code = inner.get("code") if isinstance(inner, dict) else getattr(inner, "code", None)
    assert inner_code == expected, (operation, inner_code)


def successful_writes(emulator: Any, vault: str, identity: str, since: float) -> list[Any]:
    return [
        r
        for r in emulator.audit(vault=vault, since=since)
        if r.identity == identity and r.is_write and r.status < 400
    ]


@pytest.fixture
def seeded(emulator: Any, vault: Any) -> dict[str, Any]:
    """A live secret, a soft-deleted one and a backup blob, made by the sync identity."""
    sync = emulator.secret_client(vault, "sync")
    sync.set_secret("live", SEED_VALUE)
    sync.set_secret("gone", SEED_VALUE)
    sync.begin_delete_secret("gone", _polling_interval=0.05).result()
    backup = sync.backup_secret("live")
    return {"sync": sync, "backup": backup}


def writes_and_destroys(client: Any, backup: bytes) -> dict[str, Callable[[], Any]]:
    """Every operation that changes or destroys a secret, or copies it out."""
    return {
        "set": lambda: client.set_secret("live", "changed-by-intruder"),
        "set-new": lambda: client.set_secret("brand-new", "x"),
        "update": lambda: client.update_secret_properties("live", enabled=False),
        "delete": lambda: client.begin_delete_secret("live", _polling_interval=0.05),
        "recover": lambda: client.begin_recover_deleted_secret("gone", _polling_interval=0.05),
        "purge": lambda: client.purge_deleted_secret("gone"),
        "backup": lambda: client.backup_secret("live"),
        "restore": lambda: client.restore_secret_backup(backup),
    }


def reads(client: Any) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: client.get_secret("live"),
        "list": lambda: client.list_properties_of_secrets(),
        "versions": lambda: client.list_properties_of_secret_versions("live"),
        "get-deleted": lambda: client.get_deleted_secret("gone"),
        "list-deleted": lambda: client.list_deleted_secrets(),
    }


def assert_untouched(seeded: dict[str, Any]) -> None:
    sync = seeded["sync"]
    live = sync.get_secret("live")
    assert live.value == SEED_VALUE and live.properties.enabled
    assert len(list(sync.list_properties_of_secret_versions("live"))) == 1
    assert sync.get_deleted_secret("gone").name == "gone"
    names = {p.name for p in sync.list_properties_of_secrets()}
    assert names == {"live"}


def test_app_identity_reads_and_can_change_nothing(emulator, vault, seeded) -> None:
    since = time.time()
    app = emulator.secret_client(vault, "app")
    assert app.get_secret("live").value == SEED_VALUE
    assert [p.name for p in app.list_properties_of_secrets()] == ["live"]
    denied = writes_and_destroys(app, seeded["backup"])
    for operation, call in denied.items():
        forbidden(call, operation)
    assert successful_writes(emulator, vault.name, "app", since) == []
    refusals = [r for r in emulator.audit(vault=vault.name, since=since) if r.identity == "app"]
    assert sum(r.status == 403 for r in refusals) == len(denied)
    assert_untouched(seeded)


def test_identity_without_assignment_can_do_nothing(emulator, vault, seeded) -> None:
    since = time.time()
    outsider = emulator.secret_client(vault, "outsider")
    operations = {**reads(outsider), **writes_and_destroys(outsider, seeded["backup"])}
    for operation, call in operations.items():
        forbidden(call, operation)
    records = [r for r in emulator.audit(vault=vault.name, since=since) if r.identity == "outsider"]
    assert records and all(r.status == 403 for r in records)
    assert len(records) == len(operations)
    assert_untouched(seeded)


def test_subscription_owner_has_no_data_access_until_granted(emulator, vault, seeded) -> None:
    since = time.time()
    deployer = emulator.secret_client(vault, "deployer")
    operations = {**reads(deployer), **writes_and_destroys(deployer, seeded["backup"])}
    for operation, call in operations.items():
        forbidden(call, operation)
    assert successful_writes(emulator, vault.name, "deployer", since) == []
    assert_untouched(seeded)

    # Granted a read role, the Owner reads, and still cannot write.
    emulator.assign_role("deployer", "Key Vault Secrets User", vault.resource_id)
    assert deployer.get_secret("live").value == SEED_VALUE
    for operation, call in writes_and_destroys(deployer, seeded["backup"]).items():
        forbidden(call, operation)
    assert successful_writes(emulator, vault.name, "deployer", since) == []
    assert_untouched(seeded)


def test_purge_is_refused_under_purge_protection_for_everyone(emulator, vault, seeded) -> None:
    admin = f"kv-admin-{uuid.uuid4().hex[:8]}"
    emulator.declare_identity(admin, replicate_after_s=0)
    emulator.assign_role(admin, "Key Vault Administrator", vault.resource_id)
    emulator.assign_role("deployer", "Key Vault Administrator", vault.resource_id)
    since = time.time()
    for identity in ("sync", admin, "deployer"):
        client = emulator.secret_client(vault, identity)
        forbidden(
            lambda c=client: c.purge_deleted_secret("gone"),
            f"purge as {identity}",
            expected="PurgeProtectionEnabled",
        )
    # app and outsider are refused earlier, by RBAC
    for identity in ("app", "outsider"):
        client = emulator.secret_client(vault, identity)
        forbidden(lambda c=client: c.purge_deleted_secret("gone"), f"purge as {identity}")
    purges = emulator.audit(vault=vault.name, since=since, operation="SecretPurge")
    assert len(purges) == 5 and all(r.status == 403 for r in purges)
    # still recoverable: nothing was lost
    recovered = seeded["sync"].begin_recover_deleted_secret("gone", _polling_interval=0.05)
    recovered.result()
    assert seeded["sync"].get_secret("gone").value == SEED_VALUE


def test_deleted_vault_purge_is_refused_under_purge_protection(emulator) -> None:
    """On ARM: the subscription Owner cannot purge a purge-protected deleted vault."""
    from azure.core.exceptions import HttpResponseError as ArmError

    name = f"kv-pp{uuid.uuid4().hex[:10]}"
    group = f"rg-pp{uuid.uuid4().hex[:10]}"
    resources = emulator.resource_client("deployer")
    resources.resource_groups.create_or_update(group, {"location": "westeurope"})
    keyvault = emulator.keyvault_mgmt_client("deployer", polling_interval=0)
    keyvault.vaults.begin_create_or_update(
        group,
        name,
        {
            "location": "westeurope",
            "properties": {
                "tenantId": emulator.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": True,
                "enablePurgeProtection": True,
                "softDeleteRetentionInDays": 7,
            },
        },
    ).result()
    keyvault.vaults.delete(group, name)
    since = time.time()
    with pytest.raises(ArmError) as caught:
        keyvault.vaults.begin_purge_deleted(name, "westeurope").result()
    assert caught.value.status_code in (400, 403, 409)
    assert "purge protection" in str(caught.value).lower()
    assert keyvault.vaults.get_deleted(name, "westeurope").name == name
    writes = [r for r in emulator.audit(plane="arm", since=since) if r.is_write and r.status < 400]
    assert writes == []
