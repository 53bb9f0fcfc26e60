"""The emulated tenant: everything the planes share, created once per server.

Like moto's backend registry, one object owns all state and its ``reset``;
planes reach it instead of each other. All mutation happens on the server's
event loop thread; other threads go through ``Emulator.call``.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .audit import AuditLog
from .authorization.models import RoleAssignment, RoleAssignments
from .authorization.roles import role_by_name
from .clock import Clock
from .config import EmulatorConfig, Identity, stable_id
from .faults import FaultInjector, FaultPlan
from .keyvault.models import Vault, VaultSecrets
from .persistence import Store
from .throttling import SlidingWindow
from .tokens import TokenIssuer


@dataclass
class VaultRuntime:
    """Per-vault machinery that is not state: limits and faults."""

    writes: SlidingWindow
    others: SlidingWindow
    throttling_enabled: bool
    faults: FaultInjector | None = None


def _load_key(path: Path | None) -> bytes:
    if path is None:
        return secrets.token_bytes(32)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class World:
    IDENTITY_KIND = "identity"

    def __init__(self, config: EmulatorConfig, store: Store, key_path: Path | None) -> None:
        self.config = config
        self.store = store
        self.key = _load_key(key_path)
        self.clock = Clock.restored(store)
        self.tokens = TokenIssuer(
            self.key,
            tenant_id=config.tenant_id,
            lifetime_s=config.token_lifetime_s,
            clock=self.clock,
        )
        self.audit = AuditLog(store)
        self.identities_by_oid: dict[str, Identity] = {
            i.object_id.lower(): i for i in config.identities
        }
        self.identity_replicated_at: dict[str, float] = {}
        self._load_identities()
        self.role_assignments = RoleAssignments(store)
        self.vaults: dict[str, Vault] = {}
        self.vault_ports: dict[int, str] = {}
        self.vault_secrets: dict[str, VaultSecrets] = {}
        self.vault_runtime: dict[str, VaultRuntime] = {}
        self.arm_faults: FaultInjector | None = None
        for _key, data in store.load("vault"):
            self._attach(Vault.from_record(data))
        self._seed_role_assignments()

    # -- identities -----------------------------------------------------------
    def identity(self, name: str) -> Identity:
        return self.config.identity(name)

    def principal_name(self, object_id: str) -> str:
        identity = self.identities_by_oid.get(object_id.lower())
        return identity.name if identity else ""

    def add_identity(self, identity: Identity, *, replication_delay_s: float | None = None) -> None:
        """Declare a principal at run time (as if just created in Entra ID).

        Resource Manager's replica of the directory learns of it only after
        ``replication_delay_s`` (default: the configured
        ``principal_replication_delay_s``); until then role assignments for it
        need ``principalType``.
        """
        delay = (
            self.config.principal_replication_delay_s
            if replication_delay_s is None
            else replication_delay_s
        )
        replicated_at = time.time() + delay
        self._remember_identity(identity, replicated_at)
        self.store.put(
            self.IDENTITY_KIND,
            identity.object_id.lower(),
            {
                "name": identity.name,
                "object_id": identity.object_id,
                "client_id": identity.client_id,
                "principal_type": identity.principal_type,
                "replicated_at": replicated_at,
            },
        )

    def _remember_identity(self, identity: Identity, replicated_at: float) -> None:
        key = identity.object_id.lower()
        self.identities_by_oid[key] = identity
        self.identity_replicated_at[key] = replicated_at
        others = tuple(i for i in self.config.identities if i.object_id.lower() != key)
        self.config = self.config.with_changes(identities=(*others, identity))

    def _load_identities(self) -> None:
        """Principals declared at run time before a restart (the configuration wins)."""
        configured = {i.name for i in self.config.identities}
        for key, data in self.store.load(self.IDENTITY_KIND):
            if key in self.identities_by_oid or data["name"] in configured:
                continue
            identity = Identity(
                name=data["name"],
                object_id=data["object_id"],
                client_id=data["client_id"],
                principal_type=data["principal_type"],
            )
            self._remember_identity(identity, float(data["replicated_at"]))

    def principal_replicated_at(self, object_id: str) -> float | None:
        """When a run-time principal reaches ARM's directory replica (None: long known)."""
        return self.identity_replicated_at.get(object_id.lower())

    # -- vaults -----------------------------------------------------------------
    def _attach(self, vault: Vault) -> None:
        key = vault.name.lower()
        self.vaults[key] = vault
        if vault.port:
            self.vault_ports[vault.port] = key
        self.vault_secrets[key] = VaultSecrets(vault, self.store, self.clock)
        limits = self.config.throttling
        self.vault_runtime[key] = VaultRuntime(
            writes=SlidingWindow(limits.writes, limits.window_s),
            others=SlidingWindow(limits.others, limits.window_s),
            throttling_enabled=limits.enabled,
        )

    def add_vault(self, vault: Vault) -> None:
        self._attach(vault)
        self.save_vault(vault)

    def save_vault(self, vault: Vault) -> None:
        self.store.put("vault", vault.name.lower(), vault.to_record())

    def purge_vault(self, vault: Vault) -> None:
        key = vault.name.lower()
        self.vault_secrets[key].drop_all()
        del self.vaults[key]
        del self.vault_secrets[key]
        del self.vault_runtime[key]
        self.vault_ports.pop(vault.port, None)
        self.store.delete("vault", key)

    def vault_by_port(self, port: int) -> Vault | None:
        name = self.vault_ports.get(port)
        return self.vaults.get(name) if name else None

    def set_vault_port(self, vault: Vault, port: int) -> None:
        """Give ``vault`` its data-plane port; a port belongs to one vault only."""
        key = vault.name.lower()
        owner = self.vault_ports.get(port)
        if owner is not None and owner != key:
            raise ValueError(f"port {port} already belongs to vault {owner!r}")
        if self.vault_ports.get(vault.port) == key:
            del self.vault_ports[vault.port]
        vault.port = port
        self.vault_ports[port] = vault.name.lower()
        self.save_vault(vault)

    def set_throttling(
        self,
        vault_name: str,
        *,
        enabled: bool = True,
        writes_per_10s: int | None = None,
        others_per_10s: int | None = None,
        window_s: float | None = None,
    ) -> None:
        """Change a vault's limits; ``window_s`` shortens the window (tests only)."""
        runtime = self.vault_runtime[vault_name.lower()]
        limits = self.config.throttling
        window = window_s or limits.window_s
        runtime.throttling_enabled = enabled
        runtime.writes = SlidingWindow(writes_per_10s or limits.writes, window)
        runtime.others = SlidingWindow(others_per_10s or limits.others, window)

    def set_faults(self, vault_name: str | None, plan: FaultPlan | None) -> None:
        """Faults for one vault's data plane, or for ARM when ``vault_name`` is None."""
        injector = FaultInjector(plan) if plan is not None else None
        if vault_name is None:
            self.arm_faults = injector
        else:
            self.vault_runtime[vault_name.lower()].faults = injector

    # -- role assignments ------------------------------------------------------
    def _seed_role_assignments(self) -> None:
        for seed in self.config.role_assignments:
            identity = self.config.identity(seed.identity)
            scope = seed.scope.format(subscription=self.config.subscription_id)
            self.grant(identity.object_id, seed.role, scope, principal_type=identity.principal_type)

    def grant(
        self,
        principal_id: str,
        role_name: str,
        scope: str,
        *,
        principal_type: str = "ServicePrincipal",
        name: str | None = None,
    ) -> RoleAssignment:
        """Create (or keep) an assignment directly, as configuration or tests do."""
        role = role_by_name(role_name)
        if role is None:
            raise KeyError(f"unknown role {role_name!r}")
        existing = self.role_assignments.find(scope, principal_id, role.id)
        if existing is not None:
            return existing
        subscription = (
            scope.split("/")[2]
            if scope.lower().startswith("/subscriptions/")
            else (self.config.subscription_id)
        )
        now = time.time()
        assignment = RoleAssignment(
            name=name or stable_id("role-assignment", f"{scope}|{principal_id}|{role.id}"),
            scope=scope,
            role_definition_id=role.resource_id(f"/subscriptions/{subscription}"),
            principal_id=principal_id,
            principal_type=principal_type,
            created_on=now,
            updated_on=now,
            effective_at=now + self.config.rbac_propagation_delay_s,
        )
        self.role_assignments.put(assignment)
        return assignment
