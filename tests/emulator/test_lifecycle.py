"""Stopping is clean whatever is in flight: a vault listener still starting included.

A new vault's listener starts on a later turn of the event loop than the one
that created the vault; a stop or a delete in between must neither crash the
shutdown (leaving the discovery file, the store and the audit unflushed) nor
leave the port listening.
"""

from __future__ import annotations

import os
import socket

from keyvault_emulator.discovery import Discovery, discovery_path
from keyvault_emulator.testing import RunningEmulator, unique_vault_name


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_stop_right_after_creating_a_vault_shuts_down_cleanly(tmp_path):
    running = RunningEmulator(state_dir=tmp_path, persist=True)
    server = running.server

    def create_then_stop() -> int:  # one loop turn: the listener has not started yet
        vault = server.create_vault_now(name="kv-last-moment")
        running.world.audit.record(
            plane="arm", operation="Marker", status=200, principal="", identity=""
        )
        server.request_stop()
        return vault.port

    port = server.call(create_then_stop)
    running.stop()
    assert not discovery_path(tmp_path).exists()
    assert _refuses_connections(port)

    again = RunningEmulator(state_dir=tmp_path, persist=True)  # the store was closed cleanly
    try:
        assert again.info()["vaults"]["kv-last-moment"]["uri"].endswith(f":{port}/")
        assert [r.operation for r in again.audit(plane="arm")][-1:] == ["Marker"]
        assert Discovery.read(tmp_path).pid == os.getpid()
    finally:
        again.stop()


def test_deleting_a_vault_whose_listener_is_starting_leaves_no_listener(emulator):
    server = emulator.server

    async def create_then_close() -> int:
        vault = server.create_vault_now(name=unique_vault_name("kv-brief"))
        server.close_vault_listener(vault)  # before its listener's task has run
        await server.listeners_started()
        return vault.port

    port = server.call(create_then_close)
    assert _refuses_connections(port)


def test_a_failing_shutdown_step_does_not_skip_the_others(tmp_path, monkeypatch):
    running = RunningEmulator(state_dir=tmp_path, persist=True)

    def broken_flush() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(running.world.audit, "flush", broken_flush)
    vault = running.create_vault("kv-flush-fails")
    running.stop()
    assert not discovery_path(tmp_path).exists()
    assert _refuses_connections(int(vault.uri.rstrip("/").rsplit(":", 1)[1]))
