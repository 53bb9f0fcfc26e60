"""What an app meets first: imports, a missing async transport, a vault host that does not exist.

Child processes give each check a fresh interpreter (``sys.modules`` as an
app starts with it); the unknown-host checks resolve a ``.invalid`` name
(RFC 6761: never resolves, no network needed). Both make these tests
integration-tier.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    ConfigurationError,
    SecretStore,
    StoreConfig,
    VaultHostNotFoundError,
)

pytestmark = pytest.mark.integration

UNKNOWN_VAULT = "https://no-such-vault-orgsecrets.invalid/"
GENEROUS_S = 5.0
"""The default retries take about 24 s on an unknown host; at once means well under this."""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ORGSECRETS_", "AZURE_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )


def test_the_sync_path_imports_no_asyncio(tmp_path: Any) -> None:
    result = run_python(
        """
        import sys
        import orgsecrets
        assert "asyncio" not in sys.modules, "import orgsecrets"
        assert orgsecrets.get("db-password", org="contoso") == "local-value"
        assert "asyncio" not in sys.modules, "orgsecrets.get (local sources)"
        orgsecrets.reset_default_stores()
        import os
        os.environ["AZURE_KEY_VAULT_URL"] = os.environ["UNKNOWN_VAULT"]
        try:
            orgsecrets.get("db-password", org="contoso")
        except orgsecrets.VaultHostNotFoundError:
            pass
        assert "asyncio" not in sys.modules, "orgsecrets.get (Key Vault)"
        print("ok")
        """,
        UNKNOWN_VAULT=UNKNOWN_VAULT,
        CONTOSO__DB_PASSWORD="local-value",
        ORGSECRETS_DOTENV=str(tmp_path / "none.env"),
        ORGSECRETS_LOCAL_SETTINGS="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_aget_without_aiohttp_says_how_to_install_it() -> None:
    result = run_python(
        """
        import asyncio, sys
        sys.modules["aiohttp"] = None  # as if the [aio] extra were not installed
        import orgsecrets

        async def main():
            try:
                await orgsecrets.aget("db-password", org="contoso")
            except orgsecrets.ConfigurationError as error:
                print(error)
            else:
                print("no error")

        asyncio.run(main())
        """,
        AZURE_KEY_VAULT_URL="https://contoso-prod.vault.azure.net/",
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'keyvault-orgsecrets[aio]'" in result.stdout
    assert "Traceback" not in result.stderr


class NoToken:
    """A credential that is never asked: the challenge request fails before any token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no token should be needed")

    async def __call__(self) -> None:  # pragma: no cover - not a coroutine credential
        return None


class NoAsyncToken:
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no token should be needed")

    async def close(self) -> None:
        return None


def unknown_host_config() -> StoreConfig:
    return StoreConfig(vault_url=UNKNOWN_VAULT, dotenv_path=None, local_settings_path=None)


def test_an_unknown_vault_host_is_a_configuration_error_at_once() -> None:
    store = SecretStore(unknown_host_config(), credential=NoToken())  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(VaultHostNotFoundError) as caught:
        store.get("db-password", org="contoso")
    assert time.monotonic() - started < GENEROUS_S
    assert isinstance(caught.value, ConfigurationError)
    assert UNKNOWN_VAULT in str(caught.value)
    assert "does not resolve" in str(caught.value)
    report = store.health()
    assert not report.ok and UNKNOWN_VAULT in report.reason
    store.close()


def test_an_unknown_vault_host_is_a_configuration_error_at_once_async() -> None:
    async def main() -> None:
        store = AsyncSecretStore(unknown_host_config(), credential=NoAsyncToken())  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(VaultHostNotFoundError) as caught:
            await store.get("db-password", org="contoso")
        assert time.monotonic() - started < GENEROUS_S
        assert UNKNOWN_VAULT in str(caught.value)
        await store.close()

    asyncio.run(main())
