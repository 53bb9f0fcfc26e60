"""Durable state in SQLite, written by one thread of its own.

The models keep their state in memory and write each changed entity through
to one table (kind, key) -> JSON; a secret's versions are rows of their own
(owner, seq) -> JSON, so a new version is one row, not a rewrite of them all.
Writes are queued and committed in batches by a writer thread, so no disk
work runs on the server's event loop. An answer waits for ``barrier()``: the
HTTP layer sends it only once every write queued before it is committed, so
an acknowledged write is durable. WAL with ``synchronous=NORMAL`` makes a
committed transaction survive the process being killed (the WAL is in the OS
page cache); it does not promise survival of a power cut, which a local
emulator need not.

The audit log is a table of its own, trimmed to the newest
``audit_retention`` records after each batch. ``Store(None)`` keeps nothing
on disk (the in-memory mode for fast tests): entities are not kept at all and
the audit log is a bounded list.

Files are created ``0600`` (SQLite gives its ``-wal`` and ``-shm`` files the
database file's mode), and existing ones are tightened on open.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_AUDIT_RETENTION = 200_000  # records; about 50 MB of SQLite at ~250 bytes each
_WRITE_BATCH = 5_000  # statements per transaction at most, so a burst cannot hold a reader up

Operation = tuple[str, tuple[Any, ...]]
_AUDIT_INSERT = "INSERT INTO audit (data) VALUES (?)"  # its record is encoded by the writer


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _tighten(path: Path) -> None:
    if path.exists():
        os.chmod(path, 0o600)


class Store:
    def __init__(
        self, path: Path | None, *, audit_retention: int = DEFAULT_AUDIT_RETENTION
    ) -> None:
        if audit_retention < 1:
            raise ValueError(f"audit_retention must be at least 1, not {audit_retention}")
        self.path = path
        self.audit_retention = audit_retention
        self._db: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()  # the reading connection is shared by threads
        self._memory_audit: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=audit_retention
        )
        # The writer's queue: operations, each numbered; waiters by the number
        # they need committed.
        self._cond = threading.Condition()
        self._queue: list[Operation] = []
        self._queued = 0
        self._committed = 0
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._closing = False
        self._writer: threading.Thread | None = None
        self._write_db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for suffix in ("", "-wal", "-shm", "-journal"):
            _tighten(path.with_name(path.name + suffix))
        self._write_db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._write_db.execute("PRAGMA journal_mode=WAL")
        self._write_db.execute("PRAGMA synchronous=NORMAL")
        self._write_db.execute(
            "CREATE TABLE IF NOT EXISTS entities ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )
        self._write_db.execute(
            "CREATE TABLE IF NOT EXISTS children ("
            " owner TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (owner, seq)) WITHOUT ROWID"
        )
        self._write_db.execute(
            "CREATE TABLE IF NOT EXISTS audit ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL)"
        )
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._writer = threading.Thread(target=self._write_loop, name="kv-store", daemon=True)
        self._writer.start()

    # -- writes (queued) -------------------------------------------------------
    def _enqueue(self, *operations: Operation) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("the state store is closed")
            self._queue.extend(operations)
            self._queued += len(operations)
            self._cond.notify()

    def put(self, kind: str, key: str, data: dict[str, Any]) -> None:
        if self._db is None:
            return
        self._enqueue(
            (
                "INSERT OR REPLACE INTO entities (kind, key, data) VALUES (?, ?, ?)",
                (kind, key, _dump(data)),
            )
        )

    def delete(self, kind: str, key: str) -> None:
        if self._db is None:
            return
        self._enqueue(("DELETE FROM entities WHERE kind = ? AND key = ?", (kind, key)))

    def put_child(self, owner: str, seq: int, data: dict[str, Any]) -> None:
        """One row of an entity's history (a secret's version), by its position."""
        if self._db is None:
            return
        self._enqueue(
            (
                "INSERT OR REPLACE INTO children (owner, seq, data) VALUES (?, ?, ?)",
                (owner, seq, _dump(data)),
            )
        )

    def delete_children(self, owner: str) -> None:
        if self._db is None:
            return
        self._enqueue(("DELETE FROM children WHERE owner = ?", (owner,)))

    def append_audit(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self._db is None:
            self._memory_audit.extend(records)
            return
        self._enqueue(
            *((_AUDIT_INSERT, (r,)) for r in records),
            (
                "DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?",
                (self.audit_retention,),
            ),
        )

    def barrier(self) -> concurrent.futures.Future[None] | None:
        """A future done once every write queued so far is committed; None if all are."""
        with self._cond:
            if self._committed >= self._queued:
                return None
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._waiters.append((self._queued, future))
            return future

    def wait_committed(self, timeout: float = 30) -> None:
        future = self.barrier()
        if future is not None:
            future.result(timeout=timeout)

    def _write_loop(self) -> None:
        assert self._write_db is not None
        db = self._write_db
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue[:_WRITE_BATCH]
                del self._queue[:_WRITE_BATCH]
            error: BaseException | None = None
            try:
                db.execute("BEGIN")
                for statement, parameters in batch:
                    if statement is _AUDIT_INSERT:
                        parameters = (_dump(parameters[0]),)
                    db.execute(statement, parameters)
                db.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk, say: the answers waiting say so
                log.error("writing the state failed: %s", exc)
                error = exc
                if db.in_transaction:
                    db.execute("ROLLBACK")
            with self._cond:
                self._committed += len(batch)
                done = [f for needed, f in self._waiters if needed <= self._committed]
                self._waiters = [(n, f) for n, f in self._waiters if n > self._committed]
            for future in done:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    # -- reads ------------------------------------------------------------------
    def _select(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        assert self._db is not None
        with self._read_lock:
            return self._db.execute(sql, parameters).fetchall()

    def load(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """Every entity of ``kind`` (whose key starts with ``prefix``), oldest first."""
        if self._db is None:
            return iter(())
        if prefix:
            rows = self._select(
                "SELECT key, data FROM entities WHERE kind = ? AND key >= ? AND key < ?",
                (kind, prefix, _prefix_end(prefix)),
            )
        else:
            rows = self._select(
                "SELECT key, data FROM entities WHERE kind = ? ORDER BY rowid", (kind,)
            )
        return ((key, json.loads(data)) for key, data in rows)

    def load_children(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(owner, row) for every owner starting with ``prefix``, by owner then position."""
        if self._db is None:
            return iter(())
        rows = self._select(
            "SELECT owner, data FROM children WHERE owner >= ? AND owner < ? ORDER BY owner, seq",
            (prefix, _prefix_end(prefix)),
        )
        return ((owner, json.loads(data)) for owner, data in rows)

    def audit_records(self, since: float | None = None) -> list[dict[str, Any]]:
        """The kept audit records (newest last), from ``since`` on when given.

        Only what is committed: call ``wait_committed`` first to see it all.
        """
        if self._db is None:
            records = list(self._memory_audit)
        else:
            # Records are appended in time order, so the first one at or after
            # ``since`` is found by a binary search on seq rather than a scan.
            start = 0 if since is None else self._first_audit_seq(since)
            rows = self._select("SELECT data FROM audit WHERE seq >= ? ORDER BY seq", (start,))
            records = [json.loads(data) for (data,) in rows]
        if since is None:
            return records
        return [r for r in records if r["time"] >= since]

    def _first_audit_seq(self, since: float) -> int:
        (bounds,) = self._select("SELECT MIN(seq), MAX(seq) FROM audit", ())
        low, high = bounds
        if low is None:
            return 0
        while low < high:
            middle = (low + high) // 2
            row = self._select(
                "SELECT data FROM audit WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)
            )
            if not row or json.loads(row[0][0])["time"] >= since:
                high = middle
            else:
                low = middle + 1
        return int(low)

    def close(self) -> None:
        """Commit what is queued, then close."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        for connection in (self._db, self._write_db):
            if connection is not None:
                with self._read_lock:
                    connection.close()
        self._db = None
        self._write_db = None
