"""Every secrets operation through the unmodified SecretClient, over HTTPS."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

POLL = {"_polling_interval": 0.05}


@pytest.fixture
def client(emulator, vault):
    return emulator.secret_client(vault, "sync")


def test_set_creates_versions_and_get_reads_latest_or_by_version(client):
    first = client.set_secret("db-password", "one", content_type="text/plain", tags={"a": "1"})
    second = client.set_secret("db-password", "two")
    assert first.properties.version != second.properties.version
    assert client.get_secret("db-password").value == "two"
    assert client.get_secret("db-password", first.properties.version).value == "one"
    latest = client.get_secret("db-password")
    assert latest.id.endswith(f"/secrets/db-password/{second.properties.version}")
    assert latest.properties.recovery_level == "Recoverable"
    assert latest.properties.recoverable_days == 90


def test_names_are_case_insensitive(client):
    client.set_secret("Mixed-Case", "v")
    assert client.get_secret("mixed-case").value == "v"


def test_list_versions(client):
    for value in ("a", "b", "c"):
        client.set_secret("rotating", value)
    versions = list(client.list_properties_of_secret_versions("rotating"))
    assert len(versions) == 3
    assert all(v.version for v in versions)


def test_listing_the_versions_of_a_name_that_never_existed_gives_none(client):
    # Key Vault answers 200 with an empty list here, not SecretNotFound.
    assert list(client.list_properties_of_secret_versions("never-existed")) == []
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("never-existed")  # listing created nothing


def test_update_properties_does_not_create_a_version(client):
    created = client.set_secret("meta", "value", tags={"owner": "a"})
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    updated = client.update_secret_properties(
        "meta", content_type="application/json", tags={"owner": "b"}, expires_on=expires
    )
    assert updated.version == created.properties.version
    assert updated.tags == {"owner": "b"}
    assert updated.content_type == "application/json"
    assert updated.expires_on == expires
    assert len(list(client.list_properties_of_secret_versions("meta"))) == 1
    assert client.get_secret("meta").value == "value"


def test_paging_over_sixty_secrets(client):
    names = {f"page-{i:03d}" for i in range(60)}
    for name in names:
        client.set_secret(name, "x")
    pages = list(client.list_properties_of_secrets(max_page_size=25).by_page())
    listed = [p.name for page in pages for p in page]
    assert set(listed) == names
    assert len(listed) == 60
    assert len(pages) == 3


def test_list_never_returns_values(client):
    client.set_secret("hidden", "do-not-list-me")
    (item,) = [p for p in client.list_properties_of_secrets() if p.name == "hidden"]
    assert not hasattr(item, "value")


def test_soft_delete_recover_purge_cycle(emulator):
    vault = emulator.create_vault(purge_protection=False, retention_days=7)
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.resource_id)
    client = emulator.secret_client(vault, "sync")
    client.set_secret("cycle", "v1")
    deleted = client.begin_delete_secret("cycle", **POLL).result()
    assert deleted.recovery_id.endswith("/deletedsecrets/cycle")
    assert deleted.scheduled_purge_date - deleted.deleted_date == dt.timedelta(days=7)
    assert deleted.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("cycle")
    with pytest.raises(ResourceExistsError) as conflict:
        client.set_secret("cycle", "v2")
    assert conflict.value.error.code == "Conflict"
    assert conflict.value.error.innererror["code"] == "ObjectIsDeletedButRecoverable"
    assert [d.name for d in client.list_deleted_secrets()] == ["cycle"]
    client.begin_recover_deleted_secret("cycle", **POLL).result()
    assert client.get_secret("cycle").value == "v1"
    client.begin_delete_secret("cycle", **POLL).result()
    client.purge_deleted_secret("cycle")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("cycle")
    client.set_secret("cycle", "fresh")
    assert client.get_secret("cycle").value == "fresh"


def test_purge_refused_under_purge_protection(client):
    client.set_secret("protected", "v")
    client.begin_delete_secret("protected", **POLL).result()
    with pytest.raises(HttpResponseError) as refused:
        client.purge_deleted_secret("protected")
    assert refused.value.status_code == 403
    assert "purge protection" in refused.value.message
    assert client.get_deleted_secret("protected").name == "protected"


def test_backup_and_restore(client):
    client.set_secret("backed-up", "v1", tags={"t": "1"})
    client.set_secret("backed-up", "v2")
    blob = client.backup_secret("backed-up")
    assert b"v2" not in blob  # the blob is sealed
    with pytest.raises(ResourceExistsError):
        client.restore_secret_backup(blob)
    client.begin_delete_secret("backed-up", **POLL).result()
    with pytest.raises(ResourceExistsError):  # the name is held by the deleted secret
        client.restore_secret_backup(blob)


def test_restore_into_a_fresh_name_space(emulator, client, vault):
    client.set_secret("moving", "kept")
    blob = client.backup_secret("moving")
    target = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets Officer", target.resource_id)
    other = emulator.secret_client(target, "sync")
    restored = other.restore_secret_backup(blob)
    assert restored.name == "moving"
    assert other.get_secret("moving").value == "kept"
    assert len(list(other.list_properties_of_secret_versions("moving"))) == 1
    with pytest.raises(HttpResponseError):
        other.restore_secret_backup(b"not a backup")


def test_disabled_secret_cannot_be_read(client):
    client.set_secret("off", "v", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        client.get_secret("off")
    assert refused.value.status_code == 403
    assert refused.value.error.innererror["code"] == "SecretDisabled"
    client.update_secret_properties("off", enabled=True)
    assert client.get_secret("off").value == "v"


def test_a_deleted_disabled_secret_is_listed_but_cannot_be_read(client):
    client.set_secret("off-deleted", "v", enabled=False)
    poller = client.begin_delete_secret("off-deleted", **POLL)
    poller.wait(timeout=30)
    assert poller.done()  # the poller takes the 403 below as "deleted"
    assert poller.result().name == "off-deleted"
    with pytest.raises(HttpResponseError) as refused:
        client.get_deleted_secret("off-deleted")
    assert refused.value.status_code == 403
    assert refused.value.error.code == "Forbidden"
    assert refused.value.error.innererror["code"] == "SecretDisabled"
    listed = [d for d in client.list_deleted_secrets() if d.name == "off-deleted"]
    assert len(listed) == 1
    assert listed[0].properties.enabled is False
    assert listed[0].recovery_id.endswith("/deletedsecrets/off-deleted")
    recovering = client.begin_recover_deleted_secret("off-deleted", **POLL)
    recovering.wait(timeout=30)
    assert recovering.done()
    assert "off-deleted" in {p.name for p in client.list_properties_of_secrets()}


@pytest.mark.parametrize(
    ("name", "value", "tags", "fragment"),
    [
        ("bad_name", "v", None, "invalid name"),
        ("x" * 128, "v", None, "invalid name"),
        ("too-big", "x" * (25 * 1024 + 1), None, "too large"),
        ("many-tags", "v", {f"t{i}": "v" for i in range(16)}, "Too many tags"),
    ],
)
def test_limits_are_enforced(client, name, value, tags, fragment):
    with pytest.raises(HttpResponseError) as refused:
        client.set_secret(name, value, tags=tags)
    assert refused.value.status_code == 400
    assert fragment in refused.value.message


def test_value_at_the_limit_is_accepted(client):
    client.set_secret("big", "x" * (25 * 1024))
    client.set_secret("tagged", "v", tags={f"t{i}": "v" for i in range(15)})


def test_not_found_errors(client):
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_secret("nothing-here")
    assert missing.value.error.code == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("nothing-here", "0" * 32)
    with pytest.raises(ResourceNotFoundError):
        client.begin_delete_secret("nothing-here")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("nothing-here")
