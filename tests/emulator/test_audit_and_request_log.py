"""`audit --since` and `--follow`, and the request log at `serve -v` (never a value)."""

from __future__ import annotations

import datetime
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from keyvault_emulator.__main__ import main, since_time


def test_since_takes_an_iso_time_or_a_duration():
    now = 1_800_000_000.0
    assert since_time("10m", now=now) == now - 600
    assert since_time("90s", now=now) == now - 90
    assert since_time("2h", now=now) == now - 7200
    assert (
        since_time("2026-12-04T10:00:00Z")
        == datetime.datetime(2026, 12, 4, 10, tzinfo=datetime.UTC).timestamp()
    )
    assert since_time("2026-12-04T11:00:00+01:00") == since_time("2026-12-04T10:00:00")


def test_since_refuses_what_is_neither(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--since", "yesterday"])
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_audit_since_shows_only_newer_records(emulator, vault, capsys):
    client = emulator.secret_client(vault, "sync")
    client.set_secret("before-mark", "v")
    time.sleep(1.1)
    mark = datetime.datetime.now(datetime.UTC).isoformat()
    client.set_secret("after-mark", "v")
    args = ["--state-dir", str(emulator.state_dir), "audit", "--vault", vault.name]
    assert main([*args, "--since", mark]) == 0
    recent = capsys.readouterr().out
    assert "after-mark" in recent and "before-mark" not in recent
    assert main([*args, "--since", "10m"]) == 0
    both = capsys.readouterr().out
    assert "after-mark" in both and "before-mark" in both


def test_audit_follow_prints_new_records_and_ends_cleanly_on_ctrl_c(emulator, vault):
    command = [
        sys.executable,
        "-m",
        "keyvault_emulator",
        "--state-dir",
        str(emulator.state_dir),
        "audit",
        "--vault",
        vault.name,
        "--follow",
        "--follow-interval",
        "0.1",
    ]
    follower = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        # A test worker may ignore SIGINT, and a child inherits that; a terminal's doesn't.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        time.sleep(1.0)  # the first poll has happened; what follows is new
        emulator.secret_client(vault, "sync").set_secret("followed", "v")
        deadline = time.monotonic() + 10
        line = ""
        while "followed" not in line and time.monotonic() < deadline:
            line = follower.stdout.readline() if follower.stdout else ""
        assert "SecretSet" in line and "followed" in line
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        assert "Traceback" not in (follower.stderr.read() if follower.stderr else "")
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=10)


def test_the_request_log_says_who_did_what_and_never_a_value(emulator, vault, caplog):
    marker = f"marker-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG, logger="keyvault_emulator.requests")
    client = emulator.secret_client(vault, "sync")
    client.set_secret("logged", marker)
    assert client.get_secret("logged").value == marker
    list(client.list_properties_of_secrets())
    lines = [r.getMessage() for r in caplog.records if r.name == "keyvault_emulator.requests"]
    assert any(line.startswith("PUT /secrets/logged 200 sync ") for line in lines), lines
    assert any(line.startswith("GET /secrets/logged/ 200 sync ") for line in lines), lines
    assert any(line.startswith("GET /msi/token 200 ") for line in lines), lines
    assert all(line.endswith("ms") for line in lines)
    assert marker not in caplog.text
    assert all(marker not in str(r.args) for r in caplog.records)
