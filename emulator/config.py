"""The emulator's configuration: tenant, subscriptions, identities, limits.

Everything has a sensible default, so ``python -m emulator serve`` needs no
file. Object ids are derived from names (UUID v5), so they are stable across
machines and restarts: environment files can name them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .events import EventSubscription

_NAMESPACE = uuid.UUID("5b1d8a0e-6f5c-4b8e-9a57-6b0f1f5c2d11")


def stable_id(kind: str, name: str) -> str:
    """A UUID that is the same for the same kind and name everywhere."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name.lower()}"))


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
class VaultSeed:
    """A vault that exists from the start (before ARM creates any)."""

    name: str
    resource_group: str = "rg-local"
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    location: str = "westeurope"
    rbac: bool = True
    purge_protection: bool = True
    retention_days: int = 90


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
    # Webhooks that get the vaults' secret events (emulator/events.py).
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
    """Read an emulator configuration file (YAML); missing keys keep defaults."""
    config = EmulatorConfig()
    if path is None:
        return config
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    changes: dict[str, Any] = {}
    for key in (
        "arm_page_size",
        "tenant_id",
        "port",
        "vault_port_base",
        "token_lifetime_s",
        "rbac_propagation_delay_s",
        "principal_replication_delay_s",
        "vault_dns_registration_s",
    ):
        if key in data:
            changes[key] = data[key]
    if "subscriptions" in data:
        changes["subscriptions"] = tuple(str(s) for s in data["subscriptions"])
    if "identities" in data:
        identities = []
        for entry in data["identities"]:
            if isinstance(entry, str):
                identities.append(Identity.named(entry))
            else:
                base = Identity.named(
                    entry["name"], entry.get("principal_type", "ServicePrincipal")
                )
                identities.append(
                    replace(
                        base,
                        object_id=entry.get("object_id", base.object_id),
                        client_id=entry.get("client_id", base.client_id),
                    )
                )
        changes["identities"] = tuple(identities)
    if "vaults" in data:
        changes["vaults"] = tuple(VaultSeed(**v) for v in data["vaults"])
    if "role_assignments" in data:
        changes["role_assignments"] = tuple(RoleSeed(**r) for r in data["role_assignments"])
    if "throttling" in data:
        changes["throttling"] = ThrottleLimits(**data["throttling"])
    if "arm_throttling" in data:
        changes["arm_throttling"] = ArmLimits(**data["arm_throttling"])
    if "event_subscriptions" in data:
        changes["event_subscriptions"] = tuple(
            EventSubscription.from_mapping(entry, f"event_subscriptions[{i}]")
            for i, entry in enumerate(data["event_subscriptions"] or ())
        )
    return replace(config, **changes)
