"""How other processes find a running emulator: ``{state_dir}/emulator.json``.

Written when the emulator starts serving, removed when it stops. It holds the
endpoints, the CA path, the tenant and subscriptions, and each identity's
object id, client id and token-endpoint header. The file is private (0600):
the headers and the admin key act as credentials for local processes.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "emulator.json"


def discovery_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def write_discovery(state_dir: Path, info: dict[str, Any]) -> None:
    path = discovery_path(state_dir)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    os.replace(temporary, path)


def read_discovery(state_dir: Path) -> dict[str, Any]:
    """The running emulator's endpoints; raises FileNotFoundError with a hint."""
    path = discovery_path(state_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no running emulator found: {path} does not exist. Start one with `make emulator` "
            "(or `python -m emulator serve`)."
        ) from None


def identity_environment(info: dict[str, Any], identity: str) -> dict[str, str]:
    """The environment a process needs to act as ``identity`` against the emulator."""
    identities = info["identities"]
    if identity not in identities:
        raise KeyError(
            f"unknown identity {identity!r}; the emulator has: {', '.join(sorted(identities))}"
        )
    ca = info["ca_path"]
    return {
        "IDENTITY_ENDPOINT": info["identity_endpoint"],
        "IDENTITY_HEADER": identities[identity]["header"],
        "REQUESTS_CA_BUNDLE": ca,
        "SSL_CERT_FILE": ca,
        "KEYVAULT_EMULATOR_CA": ca,
        "KEYVAULT_EMULATOR_ARM_URL": info["arm_url"],
        "AZURE_TENANT_ID": info["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": info["subscription_id"],
    }


def remove_discovery(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        discovery_path(state_dir).unlink()
