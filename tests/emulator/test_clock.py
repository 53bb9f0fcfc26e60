"""Time travel: the emulator's clock moves forward and Azure's dates follow it.

Each test runs its own emulator (moving the shared one's clock would age
every other test's tokens). Through the unmodified SDK clients over HTTPS.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

from keyvault_emulator.clock import parse_duration
from keyvault_emulator.config import EmulatorConfig
from keyvault_emulator.testing import EmulatorProcess, RunningEmulator

DAY_S = 86_400


@pytest.fixture
def own() -> Iterator[RunningEmulator]:
    """An emulator whose tokens outlive the travel (a day's token would expire on the way)."""
    running = RunningEmulator(EmulatorConfig(token_lifetime_s=400 * DAY_S), persist=False)
    try:
        yield running
    finally:
        running.stop()


def _officer_client(emulator: RunningEmulator, **vault: object):
    handle = emulator.create_vault(**vault)  # type: ignore[arg-type]
    emulator.assign_role("sync", "Key Vault Secrets Officer", handle.resource_id)
    return handle, emulator.secret_client(handle, "sync")


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def test_an_expired_secret_still_reads_as_azure_serves_it(own: RunningEmulator) -> None:
    """Key Vault's get works outside the nbf/exp window (Microsoft Learn, "About secrets")."""
    _, client = _officer_client(own)
    expires = _when(own.now()).replace(microsecond=0) + dt.timedelta(hours=1)
    client.set_secret("rotating", "v1", expires_on=expires)
    own.advance_clock("2h")
    assert own.now() > expires.timestamp()
    read = client.get_secret("rotating")
    assert read.value == "v1"
    assert read.properties.expires_on == expires
    assert read.properties.expires_on < _when(own.now())  # what an app compares with


def test_created_and_not_before_follow_the_emulators_time(own: RunningEmulator) -> None:
    _, client = _officer_client(own)
    own.advance_clock("30d")
    starts = _when(own.now()).replace(microsecond=0) + dt.timedelta(days=1)
    made = client.set_secret("later", "v1", not_before=starts)
    assert made.properties.created_on is not None
    assert made.properties.created_on >= _when(own.now() - 60)
    assert made.properties.created_on > dt.datetime.now(dt.UTC) + dt.timedelta(days=29)
    assert client.get_secret("later").properties.not_before == starts


def test_a_soft_deleted_secret_is_purged_after_its_scheduled_purge_date(
    own: RunningEmulator,
) -> None:
    _, client = _officer_client(own, retention_days=7)
    client.set_secret("old", "v1")
    client.begin_delete_secret("old", _polling_interval=0.05).wait()
    deleted = client.get_deleted_secret("old")
    assert deleted.scheduled_purge_date is not None
    assert deleted.deleted_date is not None
    assert deleted.scheduled_purge_date - deleted.deleted_date == dt.timedelta(days=7)
    own.advance_clock("6d")
    assert client.get_deleted_secret("old").name == "old"  # not yet
    own.advance_clock("1d")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("old")
    assert [s.name for s in client.list_deleted_secrets()] == []
    assert client.set_secret("old", "v2").value == "v2"  # the name is free again


def test_a_soft_deleted_vault_is_purged_after_its_retention(own: RunningEmulator) -> None:
    handle = own.create_vault(retention_days=7, purge_protection=True)
    mgmt = own.keyvault_mgmt_client()
    mgmt.vaults.delete("rg-local", handle.name)
    assert handle.name in [v.name for v in mgmt.vaults.list_deleted()]
    own.advance_clock("8d")
    assert handle.name not in [v.name for v in mgmt.vaults.list_deleted()]


def test_a_token_expires_when_the_clock_passes_its_lifetime() -> None:
    emulator = RunningEmulator(EmulatorConfig(token_lifetime_s=DAY_S), persist=False)
    try:
        handle, client = _officer_client(emulator)
        client.set_secret("s", "v")  # the credential now holds a token for a day
        emulator.advance_clock("25h")
        with pytest.raises(ClientAuthenticationError) as refused:
            client.get_secret("s")  # the cached token is past its exp
        assert refused.value.status_code == 401
        fresh = emulator.secret_client(handle, "sync")
        assert fresh.get_secret("s").value == "v"  # a new sign-in: a token of the new time
    finally:
        emulator.stop()


def test_the_clock_never_goes_back_and_survives_a_restart(tmp_path: Path) -> None:
    first = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        with pytest.raises(ValueError, match="only moves forward"):
            first.advance_clock(-1)
        first.advance_clock("10d")
        moved = first.admin("GET", "clock")
        assert moved["offset_s"] == 10 * DAY_S
    finally:
        first.stop()
    second = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        assert second.admin("GET", "clock")["offset_s"] == 10 * DAY_S
        assert second.admin("POST", "clock", {"advance": "1h"})["offset_s"] == 10 * DAY_S + 3600
    finally:
        second.stop()


def test_clock_advance_from_the_command_line(tmp_path: Path) -> None:
    child = EmulatorProcess(tmp_path / "state").start()
    try:
        ran = subprocess.run(
            [
                sys.executable,
                "-m",
                "keyvault_emulator",
                "--state-dir",
                str(tmp_path / "state"),
                "clock",
                "advance",
                "30d",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "ahead of this machine by 2.592e+06 s" in ran.stdout
        assert child.admin("GET", "clock")["offset_s"] == 30 * DAY_S
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "keyvault_emulator",
                "--state-dir",
                str(tmp_path / "state"),
                "clock",
                "advance",
                "-3d",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert bad.returncode != 0
        assert child.admin("GET", "clock")["offset_s"] == 30 * DAY_S
    finally:
        child.stop()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * DAY_S),
        ("12h", 43_200),
        ("90m", 5400),
        ("2w", 14 * DAY_S),
        ("45", 45),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1d", "3 days", "P3D"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
