"""pytest plugin: an in-memory Key Vault emulator for an app's own test suite.

Registered through the ``pytest11`` entry point of the keyvault-emulator
distribution; every fixture is opt-in, so nothing starts unless a test asks.
``keyvault_emulator`` (session scope) starts one in-memory emulator for the
whole session with one vault and one identity holding a role on it, and
hands out what a test needs: the vault's URL, a ready credential, sync and
aio ``SecretClient``s, the environment code under test reads
(``AZURE_KEY_VAULT_URL`` and the managed-identity variables, as
``orgsecrets.StoreConfig.from_env`` does), and the clock. ``keyvault_env``
puts that environment in place for one test. docs/emulator.md documents it;
examples/pytest_plugin/test_example.py is a test an app can copy.

Options (``pytest --help``, or ``[tool.pytest.ini_options]``):
``keyvault_emulator_role`` (default ``Key Vault Secrets Officer``) and
``keyvault_emulator_identity`` (default ``app``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from .testing import RunningEmulator, VaultHandle

DEFAULT_ROLE = "Key Vault Secrets Officer"
DEFAULT_IDENTITY = "app"


@dataclass
class KeyVaultSession:
    """The session's emulator, its vault, and one identity with a role on that vault."""

    emulator: RunningEmulator
    vault: VaultHandle
    identity: str
    role: str
    _credential: Any = field(default=None, repr=False)
    _secret_client: Any = field(default=None, repr=False)

    @property
    def vault_url(self) -> str:
        """The vault's URL, ``https://127.0.0.1:PORT/`` (what ``AZURE_KEY_VAULT_URL`` holds)."""
        return self.vault.uri

    @property
    def ca_path(self) -> str:
        """The emulator's CA certificate (clients trust it through ``connection_verify``)."""
        return self.emulator.ca_path

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """What any ``SecretClient`` needs beside URL and credential to talk to the emulator."""
        return self.emulator.client_kwargs()

    @property
    def environment(self) -> dict[str, str]:
        """The environment an app reads to act as :attr:`identity` on :attr:`vault`.

        ``AZURE_KEY_VAULT_URL``; ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``
        (``DefaultAzureCredential`` signs in through them); ``REQUESTS_CA_BUNDLE``,
        ``SSL_CERT_FILE`` and ``KEYVAULT_EMULATOR_CA`` (the CA); the tenant and
        subscription ids.
        """
        return self.environment_for(self.identity)

    def environment_for(self, identity: str) -> dict[str, str]:
        """:attr:`environment`, acting as another ``identity``."""
        return {**self.emulator.identity_env(identity), "AZURE_KEY_VAULT_URL": self.vault_url}

    @property
    def credential(self) -> Any:
        """A ``DefaultAzureCredential`` signed in as :attr:`identity` (shared by the session)."""
        if self._credential is None:
            self._credential = self.emulator.credential(self.identity)
        return self._credential

    @property
    def secret_client(self) -> Any:
        """A sync ``SecretClient`` for :attr:`vault` as :attr:`identity` (shared by the session)."""
        if self._secret_client is None:
            from azure.keyvault.secrets import SecretClient

            self._secret_client = SecretClient(
                self.vault_url, self.credential, **self.client_kwargs
            )
        return self._secret_client

    @contextlib.asynccontextmanager
    async def async_secret_client(self, identity: str | None = None) -> AsyncIterator[Any]:
        """``async with session.async_secret_client() as client``: an aio ``SecretClient``.

        Made inside the running event loop and closed with its credential on
        exit (aio clients belong to one loop, so none is shared).
        """
        from azure.identity.aio import DefaultAzureCredential
        from azure.keyvault.secrets.aio import SecretClient

        from .testing import patched_environment

        with patched_environment(self.emulator.identity_env(identity or self.identity)):
            credential = DefaultAzureCredential()
        client = SecretClient(self.vault_url, credential, **self.client_kwargs)
        async with credential, client:
            yield client

    def add_identity(self, name: str, *, role: str | None = None) -> dict[str, str]:
        """Declare another identity now, with ``role`` on the vault; returns its environment."""
        self.emulator.declare_identity(name, replicate_after_s=0)
        if role is not None:
            self.emulator.assign_role(name, role, self.vault.resource_id)
        return self.environment_for(name)

    def credential_for(self, identity: str) -> Any:
        """A ``DefaultAzureCredential`` signed in as ``identity``; close it when done."""
        return self.emulator.credential(identity)

    def advance_clock(self, duration: str | float) -> float:
        """Move the emulator's clock forward (``"30d"``, ``"12h"``, seconds); returns its now.

        For the whole session: secret expiry, soft-delete purge dates and token
        expiry all see the new time. Tokens issued before may now be expired;
        :attr:`credential` and :attr:`secret_client` are renewed so later
        tests start signed in.
        """
        now = self.emulator.advance_clock(duration)
        self._close_clients()
        return now

    def now(self) -> float:
        """The emulator's time in epoch seconds."""
        return self.emulator.now()

    def _close_clients(self) -> None:
        for closable in (self._secret_client, self._credential):
            if closable is not None:
                closable.close()
        self._secret_client = None
        self._credential = None

    def close(self) -> None:
        self._close_clients()
        self.emulator.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "keyvault_emulator_role",
        f"the role the keyvault_emulator identity has on its vault (default {DEFAULT_ROLE})",
        default=DEFAULT_ROLE,
    )
    parser.addini(
        "keyvault_emulator_identity",
        f"the keyvault_emulator identity's name (default {DEFAULT_IDENTITY})",
        default=DEFAULT_IDENTITY,
    )


@pytest.fixture(scope="session")
def keyvault_emulator(pytestconfig: pytest.Config) -> Iterator[KeyVaultSession]:
    """One in-memory emulator for the session: a vault, an identity with a role, clients."""
    identity = str(pytestconfig.getini("keyvault_emulator_identity"))
    role = str(pytestconfig.getini("keyvault_emulator_role"))
    emulator = RunningEmulator(persist=False)
    try:
        if identity not in {i.name for i in emulator.server.config.identities}:
            emulator.declare_identity(identity, replicate_after_s=0)
        vault = emulator.create_vault(retention_days=7)
        emulator.assign_role(identity, role, vault.resource_id)
        session = KeyVaultSession(emulator, vault, identity, role)
    except BaseException:
        emulator.stop()
        raise
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def keyvault_secret_client(keyvault_emulator: KeyVaultSession) -> Any:
    """The session's sync ``SecretClient`` (its vault, its identity)."""
    return keyvault_emulator.secret_client


@pytest.fixture
def keyvault_env(
    keyvault_emulator: KeyVaultSession, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The session's environment set for this test (restored after it); returns it."""
    environment = keyvault_emulator.environment
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return environment
