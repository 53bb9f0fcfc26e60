"""What a configuration file puts in place when the emulator starts.

Seeded secrets are set once, when their vault is first created: a restart
on the same state keeps the vault as clients left it. Configured faults
apply on every start (faults are not state; the admin API changes them).
"""

from __future__ import annotations

from .config import EmulatorConfig, VaultSeed
from .keyvault.models import Vault
from .state import World


def seed_secrets(world: World, vault: Vault, seed: VaultSeed) -> None:
    """Give a newly created ``vault`` the secrets its configuration lists."""
    secrets = world.vault_secrets[vault.name.lower()]
    for secret in seed.secrets:
        secrets.set(
            secret.name,
            secret.value,
            content_type=secret.content_type,
            tags=dict(secret.tags) or None,
            enabled=secret.enabled,
            not_before=secret.not_before,
            expires=secret.expires,
        )


def apply_configured_faults(world: World, config: EmulatorConfig) -> None:
    """The configuration's fault plans, for Resource Manager (None) and named vaults."""
    for vault_name, plan in config.faults:
        if vault_name is None or vault_name.lower() in world.vaults:
            world.set_faults(vault_name, plan)
