"""The one seam: every Azure client is built from a :class:`Target`.

A target is an Azure cloud (:class:`~keyvault_platform.target.azure.AzureTarget`)
or the local emulator (:class:`~keyvault_platform.target.emulator.EmulatorTarget`).
The rest of the code holds a ``Target`` and asks it for clients, credentials
and vault URLs, and for the two answers that differ between them (whom this
machine can act as, and whether a development fingerprint key is allowed);
it never asks which kind it holds. Retry policy, timeouts and the user agent
are set here, once.

Clients are never built with ``logging_enable``: at DEBUG it would log
request bodies (secret values) and the ``Authorization`` header.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from keyvault_platform.target.failures import TargetRetryPolicy
from keyvault_platform.target.settings import RetrySettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient


@dataclass(frozen=True)
class ReadAs:
    """How this machine can act as a principal.

    :param identity: what to pass as ``identity`` to :meth:`Target.credential`
        and :meth:`Target.secret_client`; ``None`` is the target's own
        (ambient) credential.
    """

    identity: str | None


class Target(ABC):
    """Where Azure is; builds every client, with the same retries, timeouts and user agent.

    Subclasses are frozen dataclasses with these fields.
    """

    subscription_id: str
    retry: RetrySettings
    user_agent: str

    # -- what each target answers ------------------------------------------

    @abstractmethod
    def credential(self, identity: str | None = None) -> TokenCredential:
        """A credential acting as ``identity``, or the target's default one.

        Credentials are cached per identity for the target's life; :meth:`close`
        closes them.
        """

    @abstractmethod
    def vault_url(
        self, vault_name: str, *, resource_group: str | None = None, identity: str | None = None
    ) -> str:
        """The data-plane URL of ``vault_name``, with a trailing slash."""

    @abstractmethod
    def identity_for_principal(self, object_id: str) -> ReadAs | None:
        """How to act as the principal ``object_id`` from here, or ``None`` if this machine cannot.

        Verify reads a vault as each granted principal it can act as.
        """

    @property
    @abstractmethod
    def allows_development_fingerprint_key(self) -> bool:
        """Whether the sync may fall back to the well-known development fingerprint key."""

    @abstractmethod
    def describe(self) -> str:
        """A one-line description for logs and plan headers (no secrets)."""

    @abstractmethod
    def _management_kwargs(self) -> dict[str, Any]:
        """The options of a management client: :meth:`client_kwargs` plus endpoint and scope."""

    # -- shared ------------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Options every client gets: retries, timeouts, user agent.

        The retry policy is azure-core's, except that a host name that does
        not resolve fails at once (:class:`~keyvault_platform.target.failures.TargetRetryPolicy`).
        """
        options = self.retry.client_kwargs()
        options["retry_policy"] = TargetRetryPolicy(
            **{k: v for k, v in options.items() if k.startswith("retry_")}
        )
        options["user_agent"] = self.user_agent
        return options

    def _secret_client_kwargs(self) -> dict[str, Any]:
        return self.client_kwargs()

    @cached_property
    def _credentials(self) -> dict[str, TokenCredential]:
        return {}

    def _cached_credential(self, key: str, make: Callable[[], TokenCredential]) -> TokenCredential:
        cache = self._credentials
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def close(self) -> None:
        """Close the credentials this target made."""
        for credential in self._credentials.values():
            credential.close()  # type: ignore[attr-defined]
        self._credentials.clear()

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

        return SecretClient(vault_url, self.credential(identity), **self._secret_client_kwargs())
