"""The local emulator as the target: its ARM endpoint, its token endpoint, its CA file.

The running emulator publishes ``{state_dir}/emulator.json``, read here
through the emulator's own contract (:class:`keyvault_emulator.discovery.Discovery`),
again on each use since the emulator may have restarted. A client acting as
identity ``name`` gets tokens from its ``identity_endpoint`` the way an App
Service managed identity does, trusting its CA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyvault_emulator.discovery import (
    FILE_NAME,
    Discovery,
    DiscoveryNotFound,
    DiscoveryUnreadable,
    EmulatorIdentity,
    UnknownIdentity,
)
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.target.base import ReadAs, Target
from keyvault_platform.target.clouds import AZURE_PUBLIC_CLOUD
from keyvault_platform.target.credentials import EmulatorIdentityCredential
from keyvault_platform.target.failures import Failure, Kind, Plane, hint
from keyvault_platform.target.settings import USER_AGENT, RetrySettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The emulator checks tokens for the public cloud's audiences, so the
# management clients ask for that scope (at the emulator's own endpoint).
_ARM_SCOPE = AZURE_PUBLIC_CLOUD.arm_scope


@dataclass(frozen=True)
class EmulatorTarget(Target):
    """The emulator serving ``state_dir``.

    :param state_dir: the emulator's state directory (where its discovery file is).
    :param subscription_id: the subscription resources live in
        (:meth:`from_discovery` takes the emulator's first).
    :keyword default_identity: the emulator identity used when a method is not given one.
    """

    state_dir: Path
    subscription_id: str
    default_identity: str = field(default="deployer", kw_only=True)
    retry: RetrySettings = field(default_factory=RetrySettings, kw_only=True)
    user_agent: str = field(default=USER_AGENT, kw_only=True)

    @classmethod
    def from_discovery(
        cls, state_dir: Path | str, *, default_identity: str = "deployer"
    ) -> EmulatorTarget:
        """The running emulator's target, in its first subscription."""
        state = Path(state_dir)
        return cls(
            state,
            read_discovery(state).subscription_id,
            default_identity=default_identity,
        )

    def discovery(self) -> Discovery:
        """The running emulator's endpoints (read on each call: it may restart)."""
        return read_discovery(self.state_dir)

    def credential(self, identity: str | None = None) -> TokenCredential:
        """A credential signing in as the emulator identity ``identity`` (or the default one)."""
        name = identity or self.default_identity

        def make() -> TokenCredential:
            found = self.discovery()
            return EmulatorIdentityCredential(
                endpoint=found.identity_endpoint,
                header=_published_identity(found, name).header,
                ca_path=found.ca_path,
                name=name,
                retry=self.retry,
            )

        return self._cached_credential(name, make)

    def client_kwargs(self) -> dict[str, Any]:
        """Options every client gets, trusting the emulator's CA."""
        options = super().client_kwargs()
        options["connection_verify"] = self.discovery().ca_path
        return options

    def _management_kwargs(self) -> dict[str, Any]:
        options = self.client_kwargs()
        options["base_url"] = self.discovery().arm_url
        options["credential_scopes"] = [_ARM_SCOPE]
        return options

    def _secret_client_kwargs(self) -> dict[str, Any]:
        options = self.client_kwargs()
        # The vault is on 127.0.0.1:PORT, not under a cloud's Key Vault suffix.
        options["verify_challenge_resource"] = False
        return options

    def vault_url(
        self, vault_name: str, *, resource_group: str | None = None, identity: str | None = None
    ) -> str:
        """The vault's ``properties.vaultUri``, read through ARM (each vault has its own port)."""
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
                        hint="provision it first: `make provision KVP_ENV=local`",
                    )
        finally:
            client.close()
        uri = str(vault.properties.vault_uri)
        return uri if uri.endswith("/") else uri + "/"

    def identity_for_principal(self, object_id: str) -> ReadAs | None:
        """The published emulator identity with that object id, if there is one."""
        wanted = object_id.lower()
        for name, identity in self.discovery().identities.items():
            if identity.object_id.lower() == wanted:
                return ReadAs(name)
        return None

    @property
    def allows_development_fingerprint_key(self) -> bool:
        return True

    def describe(self) -> str:
        return f"emulator (state {self.state_dir}, subscription {self.subscription_id})"


def _published_identity(found: Discovery, name: str) -> EmulatorIdentity:
    try:
        return found.identity(name)
    except UnknownIdentity as unknown:
        raise ActionableError(
            f"the emulator has no identity named {name!r}",
            hint=f"known identities: {', '.join(unknown.known) or '(none)'}",
        ) from None


def read_discovery(state_dir: Path) -> Discovery:
    """:meth:`Discovery.read`, its errors worded for the tooling's users.

    A discovery file whose process is gone (the emulator was killed, or the
    machine restarted) is refused at once: its ports would only refuse
    connections, retried for half a minute before saying so.
    """
    try:
        found = Discovery.read(state_dir)
    except DiscoveryNotFound as missing:
        raise ActionableError(
            f"the emulator is not running: {missing.path} does not exist",
            hint="start it with `make emulator` (or `python -m keyvault_emulator serve "
            f"--state-dir {state_dir}`) in another terminal",
        ) from None
    except DiscoveryUnreadable as unreadable:
        raise ActionableError(
            f"cannot read the emulator discovery file {unreadable.path}: {unreadable.reason}",
            hint="restart the emulator (`make emulator`) so that it writes the file again",
        ) from None
    if not _process_exists(found.pid):
        path = state_dir / FILE_NAME
        raise ActionableError(
            f"the emulator is not running: {path} names process {found.pid}, which no longer "
            "exists (the emulator stopped without removing the file)",
            hint=hint(
                Plane.EMULATOR,
                Failure(Kind.UNREACHABLE, code="StaleDiscovery"),
                state_dir=str(state_dir),
            ),
        )
    return found


def _process_exists(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (signal 0 checks without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:  # a platform that cannot tell: do not refuse a working emulator
        return True
    return True
