"""Durable state in SQLite: every acknowledged write is committed first.

The models keep their state in memory and write each changed entity through
to one table (kind, key) -> JSON. WAL with ``synchronous=NORMAL`` makes a
committed transaction survive the process being killed (the WAL is in the OS
page cache); it does not promise survival of a power cut, which a local
emulator need not. ``Store(None)`` keeps nothing: the in-memory mode for
fast tests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Store:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS entities ("
                " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,"
                " PRIMARY KEY (kind, key))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS audit ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL)"
            )

    def put(self, kind: str, key: str, data: dict[str, Any]) -> None:
        if self._db is None:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO entities (kind, key, data) VALUES (?, ?, ?)",
                (kind, key, json.dumps(data, separators=(",", ":"))),
            )

    def delete(self, kind: str, key: str) -> None:
        if self._db is None:
            return
        with self._lock:
            self._db.execute("DELETE FROM entities WHERE kind = ? AND key = ?", (kind, key))

    def load(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if self._db is None:
            return iter(())
        with self._lock:
            rows = self._db.execute(
                "SELECT key, data FROM entities WHERE kind = ? ORDER BY rowid", (kind,)
            ).fetchall()
        return ((key, json.loads(data)) for key, data in rows)

    def append_audit(self, records: list[dict[str, Any]]) -> None:
        if self._db is None or not records:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO audit (data) VALUES (?)",
                [(json.dumps(r, separators=(",", ":")),) for r in records],
            )
            self._db.execute("COMMIT")

    def load_audit(self) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        with self._lock:
            rows = self._db.execute("SELECT data FROM audit ORDER BY seq").fetchall()
        return [json.loads(data) for (data,) in rows]

    def close(self) -> None:
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None
