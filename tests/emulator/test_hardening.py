"""The emulator as an attacker on the same machine meets it: files, connections, output."""

from __future__ import annotations

import resource
import socket
import ssl
import stat
import time
from pathlib import Path

import pytest

from keyvault_emulator.testing import EmulatorProcess, RunningEmulator


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_directory_and_every_file_in_it_are_private(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    # A store left by an older emulator, readable by anyone: tightened at start.
    (state / "state.sqlite3").touch(mode=0o644)
    (state / "state.sqlite3").chmod(0o644)
    running = RunningEmulator(state_dir=state, persist=True)
    try:
        handle = running.create_vault("private-kv")
        running.assign_role("sync", "Key Vault Secrets Officer", handle.resource_id)
        running.secret_client(handle, "sync").set_secret("kept", "v")
        files = [p for p in state.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "signing.key"} <= names
        assert _mode(state) == 0o700
        assert {p.relative_to(state).as_posix(): oct(_mode(p)) for p in files} == {
            p.relative_to(state).as_posix(): oct(0o600) for p in files
        }
        assert all(_mode(d) == 0o700 for d in state.rglob("*") if d.is_dir())
    finally:
        running.stop()


def _tls_client(port: int, timeout: float = 10) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_thousand_idle_and_half_sent_connections_leave_a_new_client_served(emulator, vault):
    emulator.secret_client(vault, "sync").set_secret("still-served", "v")
    port = int(vault.uri.rsplit(":", 1)[1].strip("/"))
    held: list[socket.socket] = []
    try:
        for _ in range(500):  # connected, never a TLS handshake
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for _ in range(500):  # TLS done, a request's headers begun and never finished
            client = _tls_client(port)
            client.sendall(b"GET /secrets/still-served?api-version=7.5 HTTP/1.1\r\nHost: x\r\n")
            held.append(client)
        fresh = emulator.secret_client(vault, "app", retry_total=0)
        started = time.monotonic()
        assert fresh.get_secret("still-served").value == "v"
        assert time.monotonic() - started < 1.0
    finally:
        for sock in held:
            sock.close()


def _hold(port: int, count: int) -> list[socket.socket]:
    """``count`` connections to ``port``: half never shake hands, half send half a request."""
    held: list[socket.socket] = []
    for _ in range(count // 2):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    for _ in range(count - count // 2):
        try:
            client = _tls_client(port, timeout=2)
            client.sendall(b"GET /secrets/still-served?api-version=7.5 HTTP/1.1\r\nHost: x\r\n")
        except OSError:  # the server accepts no one any more: as full as it gets
            break
        held.append(client)
    return held


def test_under_a_common_open_file_limit_held_connections_make_room_for_a_new_client(tmp_path):
    # Many systems give a process 1,024 descriptors: 1,000 held connections
    # would leave an emulator without a cap unable to accept anyone else.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
    try:
        child = EmulatorProcess(tmp_path / "state").launch()  # inherits the limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    held: list[socket.socket] = []
    try:
        child.wait_ready()
        vault = child.create_vault("crowded-kv", roles={"sync": "Key Vault Secrets Officer"})
        child.secret_client(vault["uri"], "sync").set_secret("still-served", "v")
        port = int(vault["uri"].rsplit(":", 1)[1].strip("/"))
        held = _hold(port, 1100)
        fresh = child.secret_client(vault["uri"], "sync", retry_total=0)
        started = time.monotonic()
        assert fresh.get_secret("still-served").value == "v"
        assert time.monotonic() - started < 1.0
    finally:
        for sock in held:
            sock.close()
        child.stop()


def test_slow_and_idle_connections_are_closed_after_their_timeouts(tmp_path):
    from keyvault_emulator.http import ConnectionLimits

    limits = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=0.5, idle_timeout_s=0.5)
    running = RunningEmulator(state_dir=tmp_path)
    running.server.connections.limits = limits  # before any connection
    try:
        port = int(running.arm_url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        half_sent = _tls_client(port)
        half_sent.sendall(b"GET /_emulator/info HTTP/1.1\r\nHost: x\r\n")
        body_pending = _tls_client(port)
        body_pending.sendall(b"PUT /_emulator/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        for sock in (silent, half_sent, body_pending):
            sock.settimeout(5)
            assert sock.recv(1) == b""  # closed by the server, well before 5 s
            sock.close()
    finally:
        running.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/secrets/x%1b[2J%0d1700000000.000 data 200 SecretGet app kv forged",
        "/secrets/x%0a2026-01-01T00:00:00.000Z data 200 SecretGet app kv forged",
        "/secrets/x%e2%80%a8forged",
    ],
)
def test_a_path_with_control_characters_cannot_forge_an_audit_line(emulator, vault, path, capsys):
    from keyvault_emulator.__main__ import main

    port = int(vault.uri.rsplit(":", 1)[1].strip("/"))
    client = _tls_client(port)
    try:
        target = path.replace(" ", "%20").replace("[", "%5b")
        client.sendall(f"GET {target}?api-version=7.5 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.recv(12).startswith(b"HTTP/1.1 ")
    finally:
        client.close()
    records = emulator.audit(vault=vault.name)
    assert main(["--state-dir", str(emulator.state_dir), "audit", "--vault", vault.name]) == 0
    output = capsys.readouterr().out
    assert not any(ch in output for ch in "\x1b\r\u2028")
    assert output.count("\n") == len(records)  # one line a record, none forged
    assert "forged" in output.splitlines()[-1]
