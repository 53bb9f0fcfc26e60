"""What a sync failure's hint can name: the identity, the role it needs, the entry that grants it.

The hint table (:mod:`keyvault_platform.target.failures`) words a remedy from
facts the failure itself does not carry; the sync knows them from the
environment file and the target: which identity it acts as, the role a
writer needs (*Key Vault Secrets Officer*), and the ``access:`` entry that
grants it to that identity, when the file has one.
"""

from __future__ import annotations

from keyvault_platform.config.environment import Environment
from keyvault_platform.target.builtin_roles import SYNC_WRITER_ROLE

#: Roles that let the sync write secrets (lower case, as Azure compares them).
_WRITER_ROLES = frozenset({SYNC_WRITER_ROLE.lower(), "key vault administrator"})


def sync_hint_facts(env: Environment, identity: str | None) -> dict[str, str]:
    """Facts for the hints of the sync's failures (no request is made).

    ``identity`` is the emulator identity the sync acts as (None: the
    target's ambient credential, on Azure).
    """
    who = f"the sync identity {identity!r}" if identity else "the identity the sync signs in as"
    writers = [g for g in env.access if g.role.lower() in _WRITER_ROLES and g.at_vault_scope]
    env_file = env.path.name
    provision = f"`keyvault-platform provision --env {env.name}`"
    if writers:
        names = ", ".join(repr(g.name) for g in writers)
        grant = (
            f"({names} in {env_file}) grants it to principal "
            f"{writers[0].principal_id}: if that is not this identity's object id, correct "
            f"principal_id; then run {provision}"
        )
    else:
        grant = (
            f"(none in {env_file} yet): add one under access: with role: {SYNC_WRITER_ROLE}, "
            f"scope: vault and this identity's object id as principal_id, then run {provision}"
        )
    return {
        "identity": who,
        "role": SYNC_WRITER_ROLE,
        "vault": env.vault.name,
        "grant": grant,
        "env": env.name,
    }
