"""State survives restarts; an acknowledged write survives SIGKILL."""

from __future__ import annotations

import threading

from keyvault_emulator.testing import EmulatorProcess, RunningEmulator


def test_state_survives_a_restart(tmp_path):
    first = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        vault = first.create_vault("persisted-kv")
        first.assign_role("sync", "Key Vault Secrets Officer", vault.resource_id)
        client = first.secret_client(vault, "sync")
        client.set_secret("kept", "v1")
        client.set_secret("kept", "v2")
        client.set_secret("gone", "x")
        client.begin_delete_secret("gone", _polling_interval=0.05).result()
    finally:
        first.stop()
    second = RunningEmulator(state_dir=tmp_path, persist=True)
    try:
        assert second.info()["vaults"]["persisted-kv"]["uri"] == vault.uri  # same port
        client = second.secret_client(vault, "sync")
        assert client.get_secret("kept").value == "v2"
        assert len(list(client.list_properties_of_secret_versions("kept"))) == 2
        assert client.get_deleted_secret("gone").name == "gone"
        assert any(r.operation == "SecretSet" for r in second.audit(vault="persisted-kv"))
    finally:
        second.stop()


def test_acknowledged_writes_survive_sigkill(tmp_path):
    child = EmulatorProcess(tmp_path).start()
    acknowledged: list[str] = []
    try:
        vault = child.create_vault("killed-kv", roles={"sync": "Key Vault Secrets Officer"})
        client = child.secret_client(vault["uri"], "sync", retry_total=0)
        stop = threading.Event()

        def write() -> None:
            i = 0
            while not stop.is_set():
                name = f"w-{i}"
                try:
                    client.set_secret(name, f"value-{i}")
                except Exception:
                    return
                acknowledged.append(name)
                i += 1

        writer = threading.Thread(target=write)
        writer.start()
        while len(acknowledged) < 40:
            writer.join(0.01)
        child.kill()
        stop.set()
        writer.join(10)
    finally:
        child.kill()
    assert len(acknowledged) >= 40
    restarted = EmulatorProcess(tmp_path).start()
    try:
        client = restarted.secret_client(vault["uri"], "sync")
        names = {p.name for p in client.list_properties_of_secrets()}
        missing = [name for name in acknowledged if name not in names]
        assert not missing, f"acknowledged writes lost: {missing[:5]}"
        assert client.get_secret(acknowledged[-1]).value == f"value-{len(acknowledged) - 1}"
    finally:
        restarted.stop()
