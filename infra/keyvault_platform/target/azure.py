"""A real Azure cloud as the target: ``DefaultAzureCredential``, the system trust store."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from keyvault_platform.target.base import ReadAs, Target
from keyvault_platform.target.clouds import DEFAULT_CLOUD, Cloud
from keyvault_platform.target.credentials import TenantPinnedCredential
from keyvault_platform.target.settings import USER_AGENT, RetrySettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


@dataclass(frozen=True)
class AzureTarget(Target):
    """One subscription in one Azure cloud.

    :param cloud: the cloud's endpoints (:data:`~keyvault_platform.target.clouds.CLOUDS`).
    :param subscription_id: the subscription resources live in.
    :param tenant_id: the Entra tenant; when set, tokens are asked of it
        (see :class:`~keyvault_platform.target.credentials.TenantPinnedCredential`).
    """

    cloud: Cloud
    subscription_id: str
    tenant_id: str | None = None
    retry: RetrySettings = field(default_factory=RetrySettings, kw_only=True)
    user_agent: str = field(default=USER_AGENT, kw_only=True)

    @classmethod
    def public(cls, subscription_id: str, *, tenant_id: str | None = None) -> AzureTarget:
        """A subscription in the public cloud (``AzureCloud``)."""
        return cls(DEFAULT_CLOUD, subscription_id, tenant_id)

    def credential(self, identity: str | None = None) -> TokenCredential:
        """``DefaultAzureCredential`` signing in at the cloud's authority.

        It picks up workload identity federation in CI, a managed identity,
        or ``az login``; ``identity`` is ignored (this machine is one identity).
        """
        return self._cached_credential("(ambient)", self._default_credential)

    def _default_credential(self) -> TokenCredential:
        from azure.identity import DefaultAzureCredential

        options: dict[str, Any] = {
            "authority": self.cloud.authority_host,
            "exclude_interactive_browser_credential": True,
        }
        if not self.tenant_id:
            return DefaultAzureCredential(**options)
        options["additionally_allowed_tenants"] = [self.tenant_id]
        return TenantPinnedCredential(DefaultAzureCredential(**options), self.tenant_id)

    def _management_kwargs(self) -> dict[str, Any]:
        options = self.client_kwargs()
        options["base_url"] = self.cloud.resource_manager
        options["credential_scopes"] = [self.cloud.arm_scope]
        return options

    def vault_url(
        self, vault_name: str, *, resource_group: str | None = None, identity: str | None = None
    ) -> str:
        """``https://{name}{the cloud's Key Vault suffix}/``; no request is made."""
        return self.cloud.vault_url(vault_name)

    def identity_for_principal(self, object_id: str) -> ReadAs | None:
        """The signed-in principal only (found from its token's ``oid``): ``ReadAs(None)``."""
        own = self._signed_in_object_id
        return ReadAs(None) if own is not None and own == object_id.lower() else None

    @cached_property
    def _signed_in_object_id(self) -> str | None:
        """The ``oid`` claim of this machine's ARM token (no signature check needed)."""
        try:
            token = self.credential().get_token(self.cloud.arm_scope).token
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return str(claims.get("oid", "")).lower() or None
        except Exception:  # a token we cannot get or decode only means we cannot self-verify
            return None

    @property
    def allows_development_fingerprint_key(self) -> bool:
        return False

    def describe(self) -> str:
        return f"Azure ({self.cloud.name}, subscription {self.subscription_id})"
