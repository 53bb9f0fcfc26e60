"""The state store and the secrets model: costs that do not grow, state that survives."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from keyvault_emulator.keyvault.models import Vault, VaultSecrets
from keyvault_emulator.persistence import Store


class CountingStore(Store):
    def __init__(self, path: Path | None) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    def put(self, kind: str, key: str, data: dict[str, Any]) -> None:
        self.calls.append("put")
        super().put(kind, key, data)

    def put_child(self, owner: str, seq: int, data: dict[str, Any]) -> None:
        self.calls.append("put_child")
        super().put_child(owner, seq, data)


def _vault() -> Vault:
    return Vault(
        name="kv-store",
        subscription_id="s",
        resource_group="rg",
        location="westeurope",
        properties={"softDeleteRetentionInDays": 7},
        created_at=time.time(),
    )


def test_a_new_version_of_a_long_secret_is_one_stored_row(tmp_path):
    store = CountingStore(tmp_path / "state.sqlite3")
    try:
        secrets = VaultSecrets(_vault(), store)
        for i in range(300):
            secrets.set("long", f"v{i}")
        store.calls.clear()
        secrets.set("long", "latest")
        assert store.calls == ["put_child"]
    finally:
        store.close()


def test_versions_survive_a_restart_in_order(tmp_path):
    store = Store(tmp_path / "state.sqlite3")
    secrets = VaultSecrets(_vault(), store)
    written = [secrets.set("kept", f"v{i}")[1].version for i in range(5)]
    secrets.update("kept", written[1], {"enabled": False})
    secrets.set("other", "x")
    store.close()
    store = Store(tmp_path / "state.sqlite3")
    try:
        reloaded = VaultSecrets(_vault(), store)
        secret, latest = reloaded.get("kept")
        assert [v.version for v in secret.versions] == written
        assert latest.value == "v4"
        assert secret.versions[1].enabled is False
    finally:
        store.close()


def test_a_secret_stored_whole_by_an_older_emulator_is_read_and_stored_anew(tmp_path):
    store = Store(tmp_path / "state.sqlite3")
    old = VaultSecrets(_vault(), Store(None))
    secret, _ = old.set("legacy", "a")
    old.set("legacy", "b")
    store.put("secret", "kv-store/legacy", secret.to_record())  # versions inside
    store.close()
    for _ in range(2):  # the first load rewrites it in the current layout
        store = Store(tmp_path / "state.sqlite3")
        try:
            loaded, latest = VaultSecrets(_vault(), store).get("legacy")
            assert [v.value for v in loaded.versions] == ["a", "b"] and latest.value == "b"
        finally:
            store.close()


def test_pages_follow_the_sorted_names_through_deletes_and_recovers():
    secrets = VaultSecrets(_vault(), Store(None))
    for name in ("c", "A", "b", "e", "D"):
        secrets.set(name, "v")
    secrets.delete("b")
    assert [s.name for s in secrets.live_page("", 2)] == ["A", "c"]
    assert [s.name for s in secrets.live_page("c", 10)] == ["D", "e"]
    assert [s.name for s in secrets.deleted_page("", 10)] == ["b"]
    secrets.recover("b")
    assert [s.name for s in secrets.live_page("a", 2)] == ["b", "c"]
    assert secrets.deleted_page("", 10) == []


def test_a_soft_deleted_secret_is_purged_once_due_and_not_before(monkeypatch):
    secrets = VaultSecrets(_vault(), Store(None))
    secrets.set("temp", "v")
    secrets.delete("temp")
    assert [s.name for s in secrets.deleted_page("", 10)] == ["temp"]
    later = time.time() + 8 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    assert secrets.deleted_page("", 10) == []
    secrets.set("temp", "again")  # the name is free again
    assert [s.name for s in secrets.live_page("", 10)] == ["temp"]


def test_the_audit_log_keeps_the_newest_records_up_to_its_retention(tmp_path):
    for path in (tmp_path / "state.sqlite3", None):
        store = Store(path, audit_retention=10)
        try:
            store.append_audit([{"time": float(i), "n": i} for i in range(25)])
            store.wait_committed()
            assert [r["n"] for r in store.audit_records()] == list(range(15, 25))
            assert [r["n"] for r in store.audit_records(since=20.0)] == list(range(20, 25))
        finally:
            store.close()
