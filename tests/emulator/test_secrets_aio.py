"""The asyncio SecretClient against the emulator, with the async credential."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets.aio import SecretClient


def _run(coroutine):
    return asyncio.run(coroutine)


def test_async_client_full_cycle(emulator):
    vault = emulator.create_vault(purge_protection=False)
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.resource_id)

    async def scenario():
        credential = emulator.async_credential("sync")
        async with (
            credential,
            SecretClient(vault.uri, credential, **emulator.client_kwargs()) as client,
        ):
            await client.set_secret("async-one", "v1", tags={"k": "v"})
            await client.set_secret("async-one", "v2")
            assert (await client.get_secret("async-one")).value == "v2"
            names = [p.name async for p in client.list_properties_of_secrets()]
            assert "async-one" in names
            versions = [v async for v in client.list_properties_of_secret_versions("async-one")]
            assert len(versions) == 2
            props = await client.update_secret_properties("async-one", content_type="text/plain")
            assert props.content_type == "text/plain"
            deleted = await client.delete_secret("async-one", _polling_interval=0.05)
            assert deleted.recovery_id
            assert [d.name async for d in client.list_deleted_secrets()] == ["async-one"]
            await client.recover_deleted_secret("async-one", _polling_interval=0.05)
            assert (await client.get_secret("async-one")).value == "v2"
            await client.delete_secret("async-one", _polling_interval=0.05)
            await client.purge_deleted_secret("async-one")
            with pytest.raises(ResourceNotFoundError):
                await client.get_deleted_secret("async-one")

    _run(scenario())


def test_async_paging_and_rbac(emulator, vault):
    officer = emulator.secret_client(vault, "sync")
    for i in range(60):
        officer.set_secret(f"a-page-{i:02d}", "x")

    async def scenario():
        credential = emulator.async_credential("app")
        async with (
            credential,
            SecretClient(vault.uri, credential, **emulator.client_kwargs()) as client,
        ):
            names = [p.name async for p in client.list_properties_of_secrets(max_page_size=7)]
            assert len(names) == 60
            assert (await client.get_secret("a-page-00")).value == "x"
            with pytest.raises(HttpResponseError) as denied:
                await client.set_secret("a-page-00", "changed")
            assert denied.value.status_code == 403

    _run(scenario())
