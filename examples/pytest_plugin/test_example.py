"""Tests an app's suite can copy: its code against a local Key Vault.

Needs ``pip install keyvault-emulator[pytest]``; the plugin's fixtures
start one in-memory emulator per session (docs/emulator.md, "pytest plugin").
"""

from __future__ import annotations

import asyncio
import datetime as dt

import app
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError


def test_the_app_reads_its_password_from_the_vault(keyvault_secret_client, keyvault_env):
    keyvault_secret_client.set_secret("database-password", "s3cret-for-tests")
    assert app.database_password() == "s3cret-for-tests"


def test_an_aio_client_reads_it_too(keyvault_emulator):
    keyvault_emulator.secret_client.set_secret("api-key", "k-123")

    async def read() -> str | None:
        async with keyvault_emulator.async_secret_client() as client:
            return (await client.get_secret("api-key")).value

    assert asyncio.run(read()) == "k-123"


def test_another_identity_without_a_role_is_refused(keyvault_emulator, monkeypatch):
    for key, value in keyvault_emulator.add_identity("intruder").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(HttpResponseError) as refused:
        app.database_password()
    assert refused.value.status_code == 403


def test_time_travel_past_expiry_and_the_purge_date(keyvault_emulator):
    client = keyvault_emulator.secret_client
    soon = dt.datetime.fromtimestamp(keyvault_emulator.now(), dt.UTC) + dt.timedelta(days=1)
    client.set_secret("short-lived", "v1", expires_on=soon)
    client.begin_delete_secret("short-lived").wait()

    keyvault_emulator.advance_clock("8d")  # past the expiry and the vault's 7-day retention

    with pytest.raises(ResourceNotFoundError):
        keyvault_emulator.secret_client.get_deleted_secret("short-lived")
