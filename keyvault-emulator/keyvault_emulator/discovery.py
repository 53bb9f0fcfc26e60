"""How other processes find a running emulator: ``{state_dir}/emulator.json``.

Written when the emulator starts serving (and again when its vaults or
identities change), removed when it stops. :class:`Discovery` is the one
contract for that file: the emulator writes it, and ``python -m keyvault_emulator
env``, the test helpers and the tooling's emulator target read it, all
through :meth:`Discovery.read`. The format::

    {"pid": 1234, "arm_url": "https://127.0.0.1:PORT",
     "identity_endpoint": "https://127.0.0.1:PORT/msi/token",
     "ca_path": ".../ca.pem", "tenant_id": "...", "subscription_id": "...",
     "subscriptions": ["..."], "admin_key": "...",
     "identities": {"deployer": {"object_id": "...", "client_id": "...",
                                 "principal_type": "ServicePrincipal",
                                 "header": "..."}, ...},
     "vaults": {"kv-local": {"uri": "https://127.0.0.1:PORT/",
                             "resource_id": "/subscriptions/..."}, ...}}

The file is private (0600): the identity headers and the admin key act as
credentials for local processes, so they are also kept out of reprs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "emulator.json"


class DiscoveryNotFound(FileNotFoundError):
    """No discovery file: no emulator serves this state directory."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no running emulator found: {path} does not exist. Start one with `make emulator` "
            "(or `python -m keyvault_emulator serve`)."
        )
        self.path = path


class DiscoveryUnreadable(ValueError):
    """A discovery file that is not JSON, or lacks what this version needs."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read the emulator discovery file {path}: {reason}")
        self.path = path
        self.reason = reason


class UnknownIdentity(KeyError):
    """An identity name the running emulator does not have."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown identity {name!r}; the emulator has: {', '.join(known) or '(none)'}"
        )
        self.name = name
        self.known = known


@dataclass(frozen=True)
class EmulatorIdentity:
    """One identity the emulator signs tokens for; ``header`` is its token-endpoint secret."""

    name: str
    object_id: str
    client_id: str
    principal_type: str
    header: str = field(repr=False)


@dataclass(frozen=True)
class PublishedVault:
    """A live vault: its data-plane URL (a port of its own) and ARM resource id."""

    name: str
    uri: str
    resource_id: str


@dataclass(frozen=True)
class Discovery:
    """What a running emulator publishes about itself."""

    pid: int
    arm_url: str
    identity_endpoint: str
    ca_path: str
    tenant_id: str
    subscription_id: str
    subscriptions: tuple[str, ...]
    admin_key: str = field(repr=False)
    identities: Mapping[str, EmulatorIdentity] = field(default_factory=dict)
    vaults: Mapping[str, PublishedVault] = field(default_factory=dict)

    # -- the file ---------------------------------------------------------------
    def write(self, state_dir: Path) -> Path:
        """Replace the file atomically, created 0600 (never world-readable, even briefly)."""
        path = discovery_path(state_dir)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.to_json(), handle, indent=2)
        os.replace(temporary, path)
        return path

    @classmethod
    def read(cls, state_dir: Path) -> Discovery:
        """The running emulator's discovery file.

        A relative ``ca_path`` is taken from ``state_dir``.

        :raises DiscoveryNotFound: no file (no emulator serves ``state_dir``).
        :raises DiscoveryUnreadable: not JSON, or a field is missing or of the wrong type.
        """
        path = discovery_path(Path(state_dir))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DiscoveryNotFound(path) from None
        except (OSError, ValueError) as exc:
            raise DiscoveryUnreadable(path, str(exc)) from None
        try:
            return cls.from_json(data, base_dir=Path(state_dir))
        except KeyError as exc:
            reason = f"it lacks {exc}; is the emulator up to date?"
            raise DiscoveryUnreadable(path, reason) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise DiscoveryUnreadable(path, f"unexpected content ({exc})") from None

    # -- JSON -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "arm_url": self.arm_url,
            "identity_endpoint": self.identity_endpoint,
            "ca_path": self.ca_path,
            "tenant_id": self.tenant_id,
            "subscription_id": self.subscription_id,
            "subscriptions": list(self.subscriptions),
            "admin_key": self.admin_key,
            "identities": {
                i.name: {
                    "object_id": i.object_id,
                    "client_id": i.client_id,
                    "principal_type": i.principal_type,
                    "header": i.header,
                }
                for i in self.identities.values()
            },
            "vaults": {
                v.name: {"uri": v.uri, "resource_id": v.resource_id} for v in self.vaults.values()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> Discovery:
        """Parse the file's JSON; raises KeyError, TypeError or ValueError on a bad shape."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a JSON object was expected, not {type(data).__name__}")
        ca_path = Path(_text(data, "ca_path"))
        if base_dir is not None and not ca_path.is_absolute():
            ca_path = base_dir / ca_path
        pid = data["pid"]
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise TypeError(f"pid must be an integer, not {pid!r}")
        return cls(
            pid=pid,
            arm_url=_text(data, "arm_url").rstrip("/"),
            identity_endpoint=_text(data, "identity_endpoint"),
            ca_path=str(ca_path),
            tenant_id=_text(data, "tenant_id"),
            subscription_id=_text(data, "subscription_id"),
            subscriptions=tuple(str(s) for s in _items(data, "subscriptions")),
            admin_key=_text(data, "admin_key"),
            identities={
                name: EmulatorIdentity(
                    name=name,
                    object_id=_text(entry, "object_id"),
                    client_id=_text(entry, "client_id"),
                    principal_type=_text(entry, "principal_type"),
                    header=_text(entry, "header"),
                )
                for name, entry in _entries(data, "identities")
            },
            vaults={
                name: PublishedVault(
                    name=name, uri=_text(entry, "uri"), resource_id=_text(entry, "resource_id")
                )
                for name, entry in _entries(data, "vaults")
            },
        )

    # -- use --------------------------------------------------------------------
    def identity(self, name: str) -> EmulatorIdentity:
        """The identity called ``name``; raises :class:`UnknownIdentity` listing the known ones."""
        try:
            return self.identities[name]
        except KeyError:
            raise UnknownIdentity(name, sorted(self.identities)) from None

    def identity_environment(self, name: str) -> dict[str, str]:
        """The environment a process needs to act as identity ``name`` against the emulator."""
        identity = self.identity(name)
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": identity.header,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "SSL_CERT_FILE": self.ca_path,
            "KEYVAULT_EMULATOR_CA": self.ca_path,
            "KEYVAULT_EMULATOR_ARM_URL": self.arm_url,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
        }


def discovery_path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def remove_discovery(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        discovery_path(state_dir).unlink()


def identity_environment(info: Discovery | Mapping[str, Any], identity: str) -> dict[str, str]:
    """:meth:`Discovery.identity_environment` for a discovery read as plain JSON."""
    found = info if isinstance(info, Discovery) else Discovery.from_json(info)
    return found.identity_environment(identity)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _items(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list, not {type(value).__name__}")
    return value


def _entries(data: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    value = data[key]
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise TypeError(f"{key} must be an object of objects")
    return [(str(name), entry) for name, entry in value.items()]
