"""The emulator's configuration: tenant, subscriptions, identities, vaults, limits.

Everything has a sensible default, so ``keyvault-emulator serve`` needs no
file. Object ids are derived from names (UUID v5), so they are stable across
machines and restarts: environment files can name them. The file format
(YAML) is read and checked by :mod:`keyvault_emulator.config_file` and documented in
docs/emulator.md.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .events import EventSubscription
from .faults import FaultPlan

_NAMESPACE = uuid.UUID("5b1d8a0e-6f5c-4b8e-9a57-6b0f1f5c2d11")


def stable_id(kind: str, name: str) -> str:
    """A UUID that is the same for the same kind and name everywhere."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name.lower()}"))


IDENTITY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group")

DEFAULT_TENANT_ID = stable_id("tenant", "emulator")
DEFAULT_SUBSCRIPTION_ID = stable_id("subscription", "emulator")


@dataclass(frozen=True)
class Identity:
    """A managed identity: a service principal the token endpoint can sign in."""

    name: str
    object_id: str
    client_id: str
    principal_type: str = "ServicePrincipal"

    @classmethod
    def named(cls, name: str, principal_type: str = "ServicePrincipal") -> Identity:
        return cls(
            name=name,
            object_id=stable_id("principal", name),
            client_id=stable_id("client", name),
            principal_type=principal_type,
        )


@dataclass(frozen=True)
class SecretSeed:
    """A secret a configured vault holds from its first start (one version)."""

    name: str
    value: str = field(repr=False)
    content_type: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    enabled: bool = True
    not_before: int | None = None  # epoch seconds
    expires: int | None = None  # epoch seconds


@dataclass(frozen=True)
class VaultSeed:
    """A vault that exists from the start (before ARM creates any)."""

    name: str
    resource_group: str = "rg-local"
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    location: str = "westeurope"
    rbac: bool = True
    purge_protection: bool = True
    retention_days: int = 90
    # Set when the vault is first created, never again (a restart keeps what is there).
    secrets: tuple[SecretSeed, ...] = ()

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.KeyVault/vaults/{self.name}"
        )


@dataclass(frozen=True)
class RoleSeed:
    """A role assignment that exists from the start; scope may use {subscription}."""

    identity: str
    role: str
    scope: str


@dataclass(frozen=True)
class ThrottleLimits:
    """Key Vault's documented service limits, per vault per window."""

    enabled: bool = True
    window_s: float = 10.0
    writes: int = 300
    others: int = 4000


@dataclass(frozen=True)
class ArmLimits:
    """Resource Manager's request limits (per principal per window)."""

    enabled: bool = True
    window_s: float = 300.0
    writes: int = 1200
    reads: int = 12000


@dataclass(frozen=True)
class EmulatorConfig:
    tenant_id: str = DEFAULT_TENANT_ID
    subscriptions: tuple[str, ...] = (DEFAULT_SUBSCRIPTION_ID,)
    identities: tuple[Identity, ...] = field(
        default_factory=lambda: tuple(
            Identity.named(n) for n in ("deployer", "sync", "app", "outsider")
        )
    )
    vaults: tuple[VaultSeed, ...] = ()
    role_assignments: tuple[RoleSeed, ...] = (
        RoleSeed("deployer", "Owner", "/subscriptions/{subscription}"),
    )
    port: int = 0  # the ARM + identity endpoint; 0 picks a free port
    vault_port_base: int = 0  # 0: each vault gets a free port
    token_lifetime_s: int = 86_400
    throttling: ThrottleLimits = ThrottleLimits()
    arm_throttling: ArmLimits = ArmLimits()
    # Items per ARM list page; tests shrink it to prove callers follow nextLink.
    arm_page_size: int = 100
    # Azure documents up to 10 minutes before a new assignment takes effect.
    rbac_propagation_delay_s: float = 0.0
    # A new principal may be unknown to ARM for a while (directory replication);
    # assignments without principalType then fail with PrincipalNotFound.
    principal_replication_delay_s: float = 0.0
    # How long a vault created through Resource Manager stays in provisioningState
    # RegisteringDns (its PUT then answers 200, and the SDK's poller polls the
    # vault's GET until Succeeded). 0: a new vault is Succeeded at once (201).
    vault_dns_registration_s: float = 0.0
    # Faults from the start: (vault name, plan); None names Resource Manager.
    faults: tuple[tuple[str | None, FaultPlan], ...] = ()
    # Webhooks that get the vaults' secret events (keyvault_emulator/events.py).
    event_subscriptions: tuple[EventSubscription, ...] = ()

    @property
    def subscription_id(self) -> str:
        return self.subscriptions[0]

    def identity(self, name: str) -> Identity:
        for identity in self.identities:
            if identity.name == name:
                return identity
        known = ", ".join(i.name for i in self.identities)
        raise KeyError(f"unknown identity {name!r}; configured identities: {known}")

    def with_changes(self, **changes: Any) -> EmulatorConfig:
        return replace(self, **changes)


def load_config(path: Path | None) -> EmulatorConfig:
    """Read an emulator configuration file; missing keys keep their defaults.

    :raises ConfigError: the file is unreadable or wrong; every problem with its line.
    """
    if path is None:
        return EmulatorConfig()
    from .config_file import read_config_file

    return read_config_file(path)
