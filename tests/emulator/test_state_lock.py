"""One emulator per state directory: a second one is refused, naming the first's pid.

Two emulators on one state each wrote their own memory through to SQLite,
so a secret version one of them had acknowledged could vanish on restart.
"""

from __future__ import annotations

import os

import pytest

from keyvault_emulator.discovery import Discovery
from keyvault_emulator.server import Emulator
from keyvault_emulator.statelock import StateDirectoryInUse
from keyvault_emulator.testing import EmulatorProcess, EmulatorStartError, RunningEmulator


def test_a_second_emulator_on_the_same_state_is_refused_until_the_first_stops(tmp_path):
    first = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        with pytest.raises(StateDirectoryInUse) as refused:
            Emulator(state_dir=tmp_path, persist=True)
        assert refused.value.pid == os.getpid()
        assert f"pid {os.getpid()}" in str(refused.value)
        assert str(tmp_path.resolve()) in str(refused.value)
        assert Discovery.read(tmp_path).pid == os.getpid()  # the first still publishes
    finally:
        first.stop()
    again = RunningEmulator(state_dir=tmp_path, persist=True)
    again.stop()


def test_in_memory_emulators_may_share_a_directory(tmp_path):
    first = RunningEmulator(state_dir=tmp_path, persist=False)
    try:
        second = RunningEmulator(state_dir=tmp_path, persist=False)
        second.stop()
    finally:
        first.stop()


def test_a_second_child_is_refused_and_no_acknowledged_version_is_lost(tmp_path):
    first = EmulatorProcess(tmp_path).start()
    try:
        vault = first.create_vault("kv-shared", roles={"sync": "Key Vault Secrets Officer"})
        client = first.secret_client(vault["uri"], "sync")
        client.set_secret("shared", "v1")
        second = EmulatorProcess(tmp_path, log_path=tmp_path / "second.log")
        try:
            with pytest.raises(EmulatorStartError) as refused:
                second.start()
        finally:
            second.stop()  # never left running, should it start after all
        assert "exited with status 1" in str(refused.value)
        assert f"another emulator (pid {first.pid})" in refused.value.log_tail
        assert Discovery.read(tmp_path).pid == first.pid  # its discovery file is left alone
        client.set_secret("shared", "v2")  # the first still serves, alone
    finally:
        first.stop()
    restarted = EmulatorProcess(tmp_path).start()
    try:
        client = restarted.secret_client(vault["uri"], "sync")
        assert len(list(client.list_properties_of_secret_versions("shared"))) == 2
        assert client.get_secret("shared").value == "v2"
    finally:
        restarted.stop()
