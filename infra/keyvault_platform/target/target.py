"""The one seam: every Azure client is built here, from one :class:`Target`.

A target is either real Azure (public cloud endpoints, ``DefaultAzureCredential``,
the system trust store) or the local emulator (its ARM endpoint, its
identity endpoint, its CA file). Nothing else in the code knows which one
it talks to. Retry policy, timeouts and the user agent are set here, once.

For the emulator, the running emulator writes a discovery file,
``{state_dir}/emulator.json``::

    {"arm_url": "https://127.0.0.1:PORT", "identity_endpoint": "https://...",
     "ca_path": ".../ca.pem", "tenant_id": "...", "subscription_id": "...",
     "identities": {"deployer": {"object_id": "...", "client_id": "...",
                                 "header": "..."}, ...}}

and a client acting as identity ``name`` gets tokens from
``identity_endpoint`` the way an App Service managed identity does
(``IDENTITY_ENDPOINT`` + ``X-IDENTITY-HEADER``), trusting ``ca_path``.

Clients are never built with ``logging_enable``: at DEBUG it would log
request bodies (secret values) and the ``Authorization`` header.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError

from keyvault_platform.core.errors import ActionableError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

TargetKind = Literal["azure", "emulator"]

ARM_SCOPE = "https://management.azure.com/.default"
PUBLIC_ARM_URL = "https://management.azure.com"
DISCOVERY_FILE = "emulator.json"
USER_AGENT = "keyvault-platform/0.1.0"
# Refresh a cached token this long before it expires.
_TOKEN_REFRESH_MARGIN_S = 300


@dataclass(frozen=True)
class RetrySettings:
    """azure-core retry and timeout options, applied to every client.

    azure-core counts total and status retries separately and the smaller
    wins, so both are set. ``Retry-After`` replaces the backoff when sent.
    """

    total: int = 5
    status: int = 5
    backoff_factor: float = 0.8
    backoff_max_s: float = 120.0
    connection_timeout_s: float = 15.0
    read_timeout_s: float = 120.0

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "retry_total": self.total,
            "retry_status": self.status,
            "retry_backoff_factor": self.backoff_factor,
            "retry_backoff_max": self.backoff_max_s,
            "connection_timeout": self.connection_timeout_s,
            "read_timeout": self.read_timeout_s,
        }


@dataclass(frozen=True)
class EmulatorIdentity:
    name: str
    object_id: str
    client_id: str
    header: str = field(repr=False)


@dataclass(frozen=True)
class EmulatorDiscovery:
    """What the running emulator publishes in ``{state_dir}/emulator.json``."""

    arm_url: str
    identity_endpoint: str
    ca_path: str
    tenant_id: str
    subscription_id: str
    identities: Mapping[str, EmulatorIdentity]

    @classmethod
    def read(cls, state_dir: Path) -> EmulatorDiscovery:
        path = Path(state_dir) / DISCOVERY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ActionableError(
                f"the emulator is not running: {path} does not exist",
                hint="start it with `make emulator` (or `python -m emulator serve "
                f"--state-dir {state_dir}`) in another terminal",
            ) from None
        except (OSError, ValueError) as exc:
            raise ActionableError(
                f"cannot read the emulator discovery file {path}: {exc}"
            ) from None
        try:
            identities = {
                name: EmulatorIdentity(
                    name=name,
                    object_id=str(entry["object_id"]),
                    client_id=str(entry.get("client_id", "")),
                    header=str(entry["header"]),
                )
                for name, entry in dict(data.get("identities", {})).items()
            }
            ca_path = Path(str(data["ca_path"]))
            if not ca_path.is_absolute():
                ca_path = Path(state_dir) / ca_path
            return cls(
                arm_url=str(data["arm_url"]).rstrip("/"),
                identity_endpoint=str(data["identity_endpoint"]),
                ca_path=str(ca_path),
                tenant_id=str(data["tenant_id"]),
                subscription_id=str(data["subscription_id"]),
                identities=identities,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ActionableError(
                f"the emulator discovery file {path} lacks {exc}; is the emulator up to date?"
            ) from None

    def identity(self, name: str) -> EmulatorIdentity:
        try:
            return self.identities[name]
        except KeyError:
            known = ", ".join(sorted(self.identities)) or "(none)"
            raise ActionableError(
                f"the emulator has no identity named {name!r}",
                hint=f"known identities: {known}",
            ) from None


class EmulatorIdentityCredential:
    """A managed-identity credential for one emulator identity (sync).

    Speaks the App Service managed identity protocol (``GET
    {endpoint}?api-version=2019-08-01&resource=...`` with
    ``X-IDENTITY-HEADER``), which is what ``ManagedIdentityCredential`` does
    when ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` are set; unlike it, the
    endpoint, header and CA are passed in rather than read from the process
    environment, so one process can act as several identities.
    """

    def __init__(
        self, *, endpoint: str, header: str, ca_path: str, name: str, retry: RetrySettings
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import RetryPolicy

        self.name = name
        self._endpoint = endpoint
        self._header = header
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessTokenInfo] = {}
        self._client: Any = PipelineClient(
            base_url=endpoint,
            policies=[
                RetryPolicy(
                    retry_total=retry.total,
                    retry_status=retry.status,
                    retry_backoff_factor=retry.backoff_factor,
                    retry_backoff_max=retry.backoff_max_s,
                )
            ],
            connection_verify=ca_path,
        )

    def __repr__(self) -> str:
        return f"EmulatorIdentityCredential(name={self.name!r})"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        resource = _resource_for(scopes)
        with self._lock:
            cached = self._tokens.get(resource)
            if cached and cached.expires_on - _TOKEN_REFRESH_MARGIN_S > time.time():
                return cached
            from azure.core.rest import HttpRequest

            request = HttpRequest(
                "GET",
                self._endpoint,
                params={"api-version": "2019-08-01", "resource": resource},
                headers={"X-IDENTITY-HEADER": self._header, "Metadata": "true"},
            )
            response = self._client.send_request(request)
            info = _parse_token_response(response.status_code, response.text(), self.name)
            self._tokens[resource] = info
            return info

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorIdentityCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resource_for(scopes: tuple[str, ...]) -> str:
    if len(scopes) != 1:
        raise ValueError("managed identity tokens take exactly one scope")
    return scopes[0].removesuffix("/.default")


def _parse_token_response(status: int, body: str, name: str) -> AccessTokenInfo:
    if status != 200:
        # The body is an error description, never a token; keep it short anyway.
        raise ClientAuthenticationError(
            message=f"the emulator identity endpoint refused identity {name!r}: "
            f"HTTP {status} {body[:200]}"
        )
    try:
        data = json.loads(body)
        return AccessTokenInfo(str(data["access_token"]), int(data["expires_on"]))
    except (ValueError, KeyError, TypeError):
        raise ClientAuthenticationError(
            message=f"the emulator identity endpoint sent an unreadable token for {name!r}"
        ) from None


class TenantPinnedCredential:
    """Asks the wrapped credential for tokens of one tenant unless told otherwise.

    ARM's bearer policy names no tenant, so ``DefaultAzureCredential`` would
    return a token of the signed-in account's home tenant (``az login`` into
    another tenant, say) and ARM would answer 401
    ``InvalidAuthenticationTokenTenant``. Key Vault's challenge does name its
    tenant; that request's own ``tenant_id`` wins. Managed identities ignore it.
    """

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self._inner = inner
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"TenantPinnedCredential(tenant_id={self.tenant_id!r})"

    def get_token(self, *scopes: str, tenant_id: str | None = None, **kwargs: Any) -> AccessToken:
        return self._inner.get_token(  # type: ignore[no-any-return]
            *scopes, tenant_id=tenant_id or self.tenant_id, **kwargs
        )

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        merged = dict(options or {})
        if not merged.get("tenant_id"):
            merged["tenant_id"] = self.tenant_id
        return self._inner.get_token_info(*scopes, options=merged)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Target:
    """Where Azure is: ``azure`` (the real cloud) or ``emulator`` (local).

    :param kind: ``"azure"`` or ``"emulator"``.
    :param subscription_id: the subscription resources live in.
    :keyword tenant_id: the Entra tenant (optional for azure; tokens are asked
        of it when set, see :class:`TenantPinnedCredential`).
    :keyword state_dir: the emulator's state directory (emulator only).
    :keyword default_identity: the emulator identity used when a method is
        not given one (emulator only; real Azure uses ``DefaultAzureCredential``).
    """

    kind: TargetKind
    subscription_id: str
    tenant_id: str | None = None
    state_dir: Path | None = None
    default_identity: str = "deployer"
    retry: RetrySettings = field(default_factory=RetrySettings)
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        if self.kind not in ("azure", "emulator"):
            raise ValueError(f"unknown target kind {self.kind!r}")
        if self.kind == "emulator" and self.state_dir is None:
            raise ValueError("an emulator target needs state_dir")

    @classmethod
    def azure(cls, subscription_id: str, *, tenant_id: str | None = None) -> Target:
        return cls("azure", subscription_id, tenant_id=tenant_id)

    @classmethod
    def emulator(
        cls,
        state_dir: Path | str,
        *,
        subscription_id: str | None = None,
        default_identity: str = "deployer",
    ) -> Target:
        """An emulator target; the subscription defaults to the emulator's first."""
        state = Path(state_dir)
        if subscription_id is None:
            subscription_id = EmulatorDiscovery.read(state).subscription_id
        return cls("emulator", subscription_id, state_dir=state, default_identity=default_identity)

    @property
    def is_emulator(self) -> bool:
        return self.kind == "emulator"

    # -- emulator discovery ------------------------------------------------

    def discovery(self) -> EmulatorDiscovery:
        """The running emulator's endpoints (read on each call: it may restart)."""
        if self.state_dir is None:
            raise ValueError("discovery() is only for emulator targets")
        return EmulatorDiscovery.read(self.state_dir)

    @cached_property
    def _credentials(self) -> dict[str, TokenCredential]:
        return {}

    # -- credentials -------------------------------------------------------

    def credential(self, identity: str | None = None) -> TokenCredential:
        """A credential acting as ``identity`` (emulator) or the ambient identity (azure).

        On Azure, ``DefaultAzureCredential`` picks up workload identity
        federation in CI, a managed identity, or ``az login``; ``identity``
        is ignored. Credentials are cached per identity for the target's life.
        """
        name = identity or self.default_identity
        key = name if self.is_emulator else "(default)"
        cache = self._credentials
        if key in cache:
            return cache[key]
        credential: TokenCredential
        if self.is_emulator:
            found = self.discovery()
            credential = EmulatorIdentityCredential(
                endpoint=found.identity_endpoint,
                header=found.identity(name).header,
                ca_path=found.ca_path,
                name=name,
                retry=self.retry,
            )
        else:
            from azure.identity import DefaultAzureCredential

            options: dict[str, Any] = {"exclude_interactive_browser_credential": True}
            if self.tenant_id:
                options["additionally_allowed_tenants"] = [self.tenant_id]
                credential = TenantPinnedCredential(
                    DefaultAzureCredential(**options), self.tenant_id
                )
            else:
                credential = DefaultAzureCredential(**options)
        cache[key] = credential
        return credential

    def close(self) -> None:
        """Close the credentials this target made."""
        for credential in self._credentials.values():
            credential.close()  # type: ignore[attr-defined]
        self._credentials.clear()

    def principal_object_id(self, identity: str | None = None) -> str | None:
        """The object id of an emulator identity (None on real Azure)."""
        if not self.is_emulator:
            return None
        return self.discovery().identity(identity or self.default_identity).object_id

    # -- client options ----------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Options every client gets: retries, timeouts, user agent, trust."""
        options = self.retry.client_kwargs()
        options["user_agent"] = self.user_agent
        if self.is_emulator:
            options["connection_verify"] = self.discovery().ca_path
        return options

    def _management_kwargs(self) -> dict[str, Any]:
        options = self.client_kwargs()
        if self.is_emulator:
            options["base_url"] = self.discovery().arm_url
            options["credential_scopes"] = [ARM_SCOPE]
        return options

    # -- management clients ------------------------------------------------

    def keyvault_management(self, identity: str | None = None) -> KeyVaultManagementClient:
        """``azure-mgmt-keyvault`` (vaults, deleted vaults, name checks)."""
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return KeyVaultManagementClient(
            self.credential(identity), self.subscription_id, **self._management_kwargs()
        )

    def authorization_management(
        self, identity: str | None = None
    ) -> AuthorizationManagementClient:
        """``azure-mgmt-authorization`` (role definitions and assignments, 2022-04-01)."""
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(
            self.credential(identity), self.subscription_id, **self._management_kwargs()
        )

    def resource_management(self, identity: str | None = None) -> ResourceManagementClient:
        """``azure-mgmt-resource`` (resource groups)."""
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(
            self.credential(identity), self.subscription_id, **self._management_kwargs()
        )

    # -- data plane --------------------------------------------------------

    def secret_client(self, vault_url: str, identity: str | None = None) -> SecretClient:
        """A ``SecretClient`` for ``vault_url`` acting as ``identity``."""
        from azure.keyvault.secrets import SecretClient

        options = self.client_kwargs()
        if self.is_emulator:
            # The vault is on 127.0.0.1:PORT, not *.vault.azure.net.
            options["verify_challenge_resource"] = False
        return SecretClient(vault_url, self.credential(identity), **options)

    def vault_url(
        self, vault_name: str, *, resource_group: str | None = None, identity: str | None = None
    ) -> str:
        """The data-plane URL of ``vault_name``, with a trailing slash.

        Azure: ``https://{name}.vault.azure.net/``. Emulator: the vault's
        ``properties.vaultUri`` read through ARM (each vault has its own port).
        """
        if not self.is_emulator:
            return f"https://{vault_name}.vault.azure.net/"
        client = self.keyvault_management(identity)
        vault: Any
        try:
            if resource_group:
                vault = client.vaults.get(resource_group, vault_name)
            else:
                vault = next(
                    (v for v in client.vaults.list_by_subscription() if v.name == vault_name),
                    None,
                )
                if vault is None:
                    raise ActionableError(
                        f"vault {vault_name!r} does not exist in subscription "
                        f"{self.subscription_id} on the emulator",
                        hint="provision it first: `make provision ENV=local`",
                    )
        finally:
            client.close()
        uri = str(vault.properties.vault_uri)
        return uri if uri.endswith("/") else uri + "/"

    def describe(self) -> str:
        """A one-line description for logs and plan headers (no secrets)."""
        if self.is_emulator:
            return f"emulator (state {self.state_dir}, subscription {self.subscription_id})"
        return f"Azure (subscription {self.subscription_id})"
