"""An audit log of every request, like Key Vault's AuditEvent logs.

Records hold who did what to which resource and the status; never a value.
They are handed to the state store in batches (an audit record is not an
acknowledged write, so batching is fine); the store keeps the newest
``Store.audit_retention`` of them, on disk or, in memory mode, in memory. A
restart reads none of them: they are read from the store when asked for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from .escaping import printable
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

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> AuditRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def audit_line(record: dict[str, Any]) -> str:
    """One record as a line for a terminal; every field from a client is escaped."""
    target = record.get("secret") or record.get("resource") or ""
    who = record.get("identity") or record.get("principal") or "-"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record["time"]))
    millis = int(record["time"] * 1000) % 1000
    return printable(
        f"{stamp}.{millis:03d}Z {record['plane']:4} {record['status']:3} "
        f"{record['operation']:22} {who:10} {record.get('vault', '')} {target}"
    )


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()
        self.latest: AuditRecord | None = None  # for the request log

    def record(self, **values: Any) -> None:
        entry = AuditRecord(time=time.time(), **values)
        with self._lock:
            self._pending.append(entry)
        self.latest = entry

    def flush(self) -> None:
        """Hand what was recorded to the store (which writes it on its own thread)."""
        with self._lock:
            pending, self._pending = self._pending, []
            # A frozen record's own dict: read by the store's writer, never changed.
            self._store.append_audit([vars(r) for r in pending])

    def records(
        self,
        *,
        plane: str | None = None,
        vault: str | None = None,
        since: float | None = None,
        operation: str | None = None,
    ) -> list[AuditRecord]:
        """The kept records, oldest first, including those not yet flushed."""
        self.flush()
        self._store.wait_committed()
        kept = self._store.audit_records(since)
        return [
            r
            for r in map(AuditRecord.from_record, kept)
            if (plane is None or r.plane == plane)
            and (vault is None or r.vault.lower() == vault.lower())
            and (operation is None or r.operation == operation)
        ]
