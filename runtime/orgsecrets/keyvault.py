"""The Key Vault source: the one place that builds and calls ``SecretClient``.

:func:`client_options` is the target seam for the runtime: retry policy,
timeouts, user agent and, only for the local emulator, the CA bundle and
``verify_challenge_resource=False``; :func:`credential_options` gives the
credentials the store builds the same timeouts. :class:`KeyVaultSource` and
:class:`AsyncKeyVaultSource` wrap the sync and ``aio`` clients, translate
their exceptions at the boundary and never log, keep or show a value
beyond returning it. The twins share :class:`_KeyVaultCore`: what a
client's answer or exception means; each only makes its calls.

``logging_enable`` is never passed: with it azure-core would log bodies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Self, TypeVar

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from ._azure_errors import Operation, is_disabled_secret, map_azure_error
from ._cache_core import Loaded
from ._version import __version__
from .config import EmulatorSettings, StoreConfig, is_azure_vault_url, is_loopback_url
from .errors import ConfigurationError
from .naming import InvalidSecretNameError, SecretName, parse_secret_name

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

__all__ = [
    "AsyncKeyVaultSource",
    "KeyVaultSource",
    "client_options",
    "credential_options",
    "default_async_credential",
    "default_credential",
    "resolve_emulator",
]

USER_AGENT = f"orgsecrets/{__version__}"


def resolve_emulator(
    config: StoreConfig, environ: Mapping[str, str] | None = None
) -> EmulatorSettings | None:
    """The emulator settings to use for ``config``, or None for Azure.

    Explicit settings win (refused for real Azure hosts by the config). A
    loopback vault host takes them from ``KEYVAULT_EMULATOR_CA`` (else
    ``REQUESTS_CA_BUNDLE``). Any other host gets none.

    :raises ConfigurationError: a loopback vault and no CA bundle to trust it.
    """
    url = config.vault_url
    if url is None:
        return None
    if config.emulator is not None:
        if is_azure_vault_url(url):  # pragma: no cover - StoreConfig already refuses this
            raise ConfigurationError(f"emulator settings refused for Azure host {url!r}")
        return config.emulator
    if not is_loopback_url(url):
        return None
    settings = EmulatorSettings.from_env(environ)
    if settings is None:
        raise ConfigurationError(
            f"vault URL {url!r} points at the local emulator but no CA bundle is configured: "
            "set KEYVAULT_EMULATOR_CA to the emulator's CA file (`make emulator-env` prints it)"
        )
    return settings


def client_options(config: StoreConfig, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``SecretClient`` (sync or aio) built from ``config``.

    ``retry_status`` and the connect/read counters are set to ``retry_total``
    too: azure-core applies the smallest counter, and ``retry_status``
    defaults to 3, which would silently cap 5 retries at 3.
    """
    options: dict[str, Any] = {
        "retry_total": config.retry_total,
        "retry_status": config.retry_total,
        "retry_connect": config.retry_total,
        "retry_read": config.retry_total,
        "retry_backoff_factor": config.retry_backoff_factor_s,
        "retry_backoff_max": config.retry_backoff_max_s,
        "connection_timeout": config.connect_timeout_s,
        "read_timeout": config.read_timeout_s,
        "user_agent": USER_AGENT,
    }
    emulator = resolve_emulator(config, environ)
    if emulator is not None:
        options["connection_verify"] = emulator.ca_path
        options["verify_challenge_resource"] = False
    return options


def credential_options(config: StoreConfig) -> dict[str, Any]:
    """Keyword arguments for the credentials the store builds.

    The same connect and read timeouts as the vault client: azure-identity
    passes them to its pipeline's transport, which otherwise waits up to
    300 s for a silent identity endpoint.
    """
    options: dict[str, Any] = {
        "connection_timeout": config.connect_timeout_s,
        "read_timeout": config.read_timeout_s,
    }
    emulator = resolve_emulator(config)
    if emulator is not None:
        options["connection_verify"] = emulator.ca_path
    return options


def default_credential(config: StoreConfig) -> TokenCredential:
    """``DefaultAzureCredential`` (trusting the emulator's CA when pointed at it)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(**credential_options(config))


def default_async_credential(config: StoreConfig) -> AsyncTokenCredential:
    """The ``aio`` ``DefaultAzureCredential`` (trusting the emulator's CA when pointed at it)."""
    require_async_transport()
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(**credential_options(config))


def _retry_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``retry_*`` options, for building the retry policy the client is given."""
    return {key: value for key, value in options.items() if key.startswith("retry_")}


AIO_INSTALL = "pip install 'keyvault-orgsecrets[aio]'"


def require_async_transport() -> None:
    """Raise a :class:`ConfigurationError` with the install command if aiohttp is missing.

    azure-core's only async transport is aiohttp, an optional dependency
    (the ``aio`` extra); without it the first async request would fail with
    a bare ``ImportError``.
    """
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "the asyncio API (aget, AsyncSecretStore) reads Key Vault through aiohttp, which "
            f"is not installed: {AIO_INSTALL}"
        ) from None


def _vault_url(config: StoreConfig) -> str:
    if config.vault_url is None:
        raise ConfigurationError("no vault URL configured")
    return config.vault_url


def _listed_name(raw: str | None) -> SecretName | None:
    if not raw:
        return None
    try:
        return parse_secret_name(raw)
    except InvalidSecretNameError:
        return None  # a secret outside the naming scheme: not ours to load


CredentialT = TypeVar("CredentialT")
ClientT = TypeVar("ClientT")


class _KeyVaultCore(Generic[CredentialT, ClientT]):
    """What both Key Vault twins share: the vault's identity and the meaning of its answers.

    :param config: vault URL, retries, timeouts, emulator settings.
    :param credential: a ``TokenCredential`` (an ``AsyncTokenCredential`` for the aio twin).
    :keyword client: an already built client (for tests); otherwise one is built.
    """

    def __init__(
        self, config: StoreConfig, credential: CredentialT, *, client: ClientT | None = None
    ) -> None:
        self.vault_url = _vault_url(config)
        self.description = f"Key Vault {self.vault_url}"
        self.client = client if client is not None else self._build_client(config, credential)

    def _build_client(self, config: StoreConfig, credential: CredentialT) -> ClientT:
        raise NotImplementedError

    @staticmethod
    def _default_credential(config: StoreConfig) -> Any:
        raise NotImplementedError

    @classmethod
    def open(cls, config: StoreConfig, credential: Any = None) -> tuple[Self, Any]:
        """A source for ``config``'s vault, and the credential built for it (None if given)."""
        owned = None
        if credential is None:
            credential = owned = cls._default_credential(config)
        return cls(config, credential), owned

    def _found(self, value: str | None) -> Loaded:
        return Loaded(value if value is not None else "", self.description)

    def _fetch_failed(self, vault_name: str, exc: AzureError) -> Loaded:
        """What a failed ``get_secret`` means: not found (disabled counts), or a raised error."""
        if isinstance(exc, ResourceNotFoundError):
            return Loaded(None, self.description)
        if isinstance(exc, HttpResponseError) and is_disabled_secret(exc):
            return Loaded(None, f"{self.description} (disabled)")
        operation = Operation.get_secret(vault_name)
        raise map_azure_error(exc, vault_url=self.vault_url, operation=operation) from exc

    def _list_failed(self, exc: AzureError) -> NoReturn:
        operation = Operation.list_secrets()
        raise map_azure_error(exc, vault_url=self.vault_url, operation=operation) from exc

    @staticmethod
    def _listed(props: Any) -> SecretName | None:
        """The name of a listed secret to load, or None (disabled, or outside the scheme)."""
        if props.enabled is False:
            return None
        return _listed_name(props.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vault_url!r})"


class KeyVaultSource(_KeyVaultCore["TokenCredential", "SecretClient"]):
    """Reads secrets through the sync ``SecretClient``."""

    _default_credential = staticmethod(default_credential)

    def _build_client(self, config: StoreConfig, credential: TokenCredential) -> SecretClient:
        from azure.keyvault.secrets import SecretClient

        from ._retry import FailFastRetryPolicy

        options = client_options(config)
        options["retry_policy"] = FailFastRetryPolicy(**_retry_settings(options))
        return SecretClient(self.vault_url, credential, **options)

    def fetch(self, name: SecretName) -> Loaded:
        """The secret's current value, or ``Loaded(None)`` if it does not exist or is disabled.

        Requires ``secrets/getSecret/action`` (Key Vault Secrets User).

        :raises VaultError: any other failure, translated.
        """
        return self.read(name.vault_name)

    def read(self, vault_name: str, *, version: str | None = None) -> Loaded:
        """:meth:`fetch` by the name in the vault (any name), optionally of one version."""
        try:
            secret = self.client.get_secret(vault_name, version)
        except AzureError as exc:
            return self._fetch_failed(vault_name, exc)
        return self._found(secret.value)

    def list_names(self) -> list[SecretName]:
        """Every enabled secret in the vault that follows the naming scheme. Reads no value.

        Requires ``secrets/readMetadata/action`` (Key Vault Secrets User).
        """
        return list(self.iter_names())

    def iter_names(self) -> Iterator[SecretName]:
        """:meth:`list_names` lazily, page by page, so callers can start work early."""
        try:
            for props in self.client.list_properties_of_secrets(max_page_size=25):
                if (parsed := self._listed(props)) is not None:
                    yield parsed
        except AzureError as exc:
            self._list_failed(exc)

    def probe(self) -> None:
        """List one page of secret properties, without retries. For health checks."""
        try:
            pages = self.client.list_properties_of_secrets(max_page_size=1, retry_total=0)
            for _ in next(iter(pages.by_page()), ()):
                pass
        except AzureError as exc:
            self._list_failed(exc)

    def close(self) -> None:
        self.client.close()


class AsyncKeyVaultSource(_KeyVaultCore["AsyncTokenCredential", "AsyncSecretClient"]):
    """The asyncio twin of :class:`KeyVaultSource`, on ``azure.keyvault.secrets.aio``."""

    _default_credential = staticmethod(default_async_credential)

    def _build_client(
        self, config: StoreConfig, credential: AsyncTokenCredential
    ) -> AsyncSecretClient:
        require_async_transport()
        from azure.keyvault.secrets.aio import SecretClient as AioSecretClient

        from ._retry import AsyncFailFastRetryPolicy

        options = client_options(config)
        options["retry_policy"] = AsyncFailFastRetryPolicy(**_retry_settings(options))
        ca_path = options.pop("connection_verify", None)
        if ca_path is not None:
            from ._aio_transport import CATrustingAioHttpTransport

            options["transport"] = CATrustingAioHttpTransport(ca_path)
        return AioSecretClient(self.vault_url, credential, **options)

    async def fetch(self, name: SecretName) -> Loaded:
        """See :meth:`KeyVaultSource.fetch`."""
        return await self.read(name.vault_name)

    async def read(self, vault_name: str, *, version: str | None = None) -> Loaded:
        """See :meth:`KeyVaultSource.read`."""
        try:
            secret = await self.client.get_secret(vault_name, version)
        except AzureError as exc:
            return self._fetch_failed(vault_name, exc)
        return self._found(secret.value)

    async def list_names(self) -> list[SecretName]:
        """See :meth:`KeyVaultSource.list_names`."""
        return [name async for name in self.iter_names()]

    async def iter_names(self) -> AsyncIterator[SecretName]:
        """See :meth:`KeyVaultSource.iter_names`."""
        try:
            async for props in self.client.list_properties_of_secrets(max_page_size=25):
                if (parsed := self._listed(props)) is not None:
                    yield parsed
        except AzureError as exc:
            self._list_failed(exc)

    async def probe(self) -> None:
        """See :meth:`KeyVaultSource.probe`."""
        try:
            pages = self.client.list_properties_of_secrets(max_page_size=1, retry_total=0)
            async for page in pages.by_page():
                async for _ in page:
                    pass
                break
        except AzureError as exc:
            self._list_failed(exc)

    async def close(self) -> None:
        await self.client.close()
