"""How the sync describes Azure errors: real 403 and 409 responses from the emulator."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from keyvault_platform.sync.apply import _is_deleted_conflict, describe_error
from keyvault_platform.target.failures import inner_code


def test_a_403_names_its_inner_code(emulator, vault) -> None:
    reader = emulator.secret_client(vault, "app")  # Secrets User: may read, not write
    with pytest.raises(HttpResponseError) as caught:
        reader.set_secret("acme--denied", "not-written")
    assert caught.value.status_code == 403
    assert inner_code(caught.value) == "ForbiddenByRbac"
    assert describe_error(caught.value).startswith("HTTP 403 Forbidden/ForbiddenByRbac: ")
    assert "not-written" not in describe_error(caught.value)


def test_a_409_on_a_soft_deleted_name_is_recognised_by_its_inner_code(emulator, vault) -> None:
    client = emulator.secret_client(vault, "sync")
    client.set_secret("acme--gone", "first")
    client.begin_delete_secret("acme--gone").wait()
    with pytest.raises(HttpResponseError) as caught:
        client.set_secret("acme--gone", "second")
    assert caught.value.status_code == 409
    assert inner_code(caught.value) == "ObjectIsDeletedButRecoverable"
    assert describe_error(caught.value).startswith(
        "HTTP 409 Conflict/ObjectIsDeletedButRecoverable: "
    )
    assert _is_deleted_conflict(caught.value)


def test_a_409_with_another_inner_code_is_not_a_deleted_conflict(emulator, vault) -> None:
    client = emulator.secret_client(vault, "sync")
    client.set_secret("acme--kept", "value")
    backup = client.backup_secret("acme--kept")
    with pytest.raises(HttpResponseError) as caught:
        client.restore_secret_backup(backup)  # the name exists: 409 ObjectAlreadyExists
    assert caught.value.status_code == 409
    assert inner_code(caught.value) == "ObjectAlreadyExists"
    assert not _is_deleted_conflict(caught.value)


def test_inner_code_of_errors_without_one() -> None:
    assert inner_code(ValueError("x")) == ""
    assert inner_code(HttpResponseError(message="no body")) == ""
