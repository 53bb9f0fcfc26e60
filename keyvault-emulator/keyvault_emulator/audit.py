"""An audit log of every request, like Key Vault's AuditEvent logs.

Records hold who did what to which resource and the status; never a value.
They are kept in memory for tests and flushed to the state store in batches
(an audit record is not an acknowledged write, so batching is fine).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from .persistence import Store


@dataclass(frozen=True)
class AuditRecord:
    time: float
    plane: str  # "data" (a vault's secrets) or "arm" (Resource Manager)
    operation: str  # Azure's operationName: SecretGet, VaultPut, ...
    status: int
    principal: str  # object id, "" when unauthenticated
    identity: str  # the emulator identity's name, when known
    vault: str = ""
    secret: str = ""
    method: str = ""
    resource: str = ""  # ARM resource id or request path

    @property
    def is_write(self) -> bool:
        return self.method in ("PUT", "PATCH", "POST", "DELETE") and self.operation not in (
            "SecretBackup",
            "CheckNameAvailability",
        )


class AuditLog:
    MAX_IN_MEMORY = 2_000_000

    def __init__(self, store: Store) -> None:
        self._store = store
        self._records: list[AuditRecord] = [AuditRecord(**data) for data in store.load_audit()]
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        entry = AuditRecord(time=time.time(), **fields)
        with self._lock:
            self._records.append(entry)
            if len(self._records) > self.MAX_IN_MEMORY:
                del self._records[: self.MAX_IN_MEMORY // 10]
            self._pending.append(entry)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        self._store.append_audit([asdict(r) for r in pending])

    def records(
        self,
        *,
        plane: str | None = None,
        vault: str | None = None,
        since: float | None = None,
        operation: str | None = None,
    ) -> list[AuditRecord]:
        with self._lock:
            snapshot = list(self._records)
        return [
            r
            for r in snapshot
            if (plane is None or r.plane == plane)
            and (vault is None or r.vault.lower() == vault.lower())
            and (since is None or r.time >= since)
            and (operation is None or r.operation == operation)
        ]
