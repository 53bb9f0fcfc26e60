"""A configuration file serves what it says; a bad one starts nothing.

The shipped example (``keyvault-emulator config example``) is served and
read through the SDK; identities join a running emulator from the command
line and act at once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from azure.keyvault.secrets import SecretClient

from keyvault_emulator.config import load_config
from keyvault_emulator.config_file import example_text
from keyvault_emulator.discovery import Discovery
from keyvault_emulator.testing import EmulatorProcess, IdentityBoundCredential, RunningEmulator


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keyvault_emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_the_example_configuration_serves_its_vault_secrets_and_roles(tmp_path: Path) -> None:
    example = tmp_path / "emulator.yaml"
    example.write_text(example_text(), encoding="utf-8")
    emulator = RunningEmulator(load_config(example), persist=False)
    try:
        vault = emulator.info()["vaults"]["kv-app-local"]
        as_app = emulator.secret_client(vault["uri"], "app")
        assert as_app.get_secret("database-password").value == "local-only-password"
        api_key = as_app.get_secret("api-key")
        assert api_key.properties.tags == {"owner": "reporting", "rotation": "90"}
        assert api_key.properties.content_type == "text/plain"
        reporting = emulator.info()["identities"]["reporting"]
        assert reporting["object_id"] == "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
    finally:
        emulator.stop()


def test_seeded_secrets_are_set_once_and_a_restart_keeps_what_clients_changed(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "emulator.yaml"
    config_file.write_text(
        "vaults:\n  - name: kv-seeded\n    secrets:\n      - {name: token, value: first}\n"
        "role_assignments:\n"
        "  - {identity: sync, role: Key Vault Secrets Officer, vault: kv-seeded}\n",
        encoding="utf-8",
    )
    state = tmp_path / "state"
    for expected, new in (("first", "changed"), ("changed", None)):
        emulator = RunningEmulator(load_config(config_file), state_dir=state, persist=True)
        try:
            client = emulator.secret_client(emulator.info()["vaults"]["kv-seeded"]["uri"], "sync")
            assert client.get_secret("token").value == expected
            assert len(list(client.list_properties_of_secret_versions("token"))) == (
                1 if new else 2
            )
            if new:
                client.set_secret("token", new)
        finally:
            emulator.stop()


def test_a_bad_configuration_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("vaults:\n  - name: kv-ok\n    retention_days: 900\n", encoding="utf-8")
    state = tmp_path / "state"
    served = _cli("--state-dir", str(state), "serve", "--config", str(bad), "--port", "0")
    assert served.returncode == 1
    assert f"{bad}:3: vaults[0].retention_days: must be at most 90, not 900" in served.stderr
    assert not state.exists()  # not even a state directory
    checked = _cli("config", "check", str(bad))
    assert checked.returncode == 1 and f"{bad}:3:" in checked.stderr
    good = tmp_path / "good.yaml"
    good.write_text(_cli("config", "example").stdout, encoding="utf-8")
    fine = _cli("config", "check", str(good))
    assert fine.returncode == 0, fine.stderr
    assert "1 vaults, 2 secrets, 3 role assignments" in fine.stdout


def test_an_identity_added_from_the_command_line_acts_at_once(tmp_path: Path) -> None:
    config_file = tmp_path / "emulator.yaml"
    config_file.write_text("vaults:\n  - name: kv-cli\n", encoding="utf-8")
    state = tmp_path / "state"
    child = EmulatorProcess(state, config_path=config_file).start()
    try:
        officer = _cli(
            "--state-dir",
            str(state),
            "identity",
            "add",
            "writer",
            "--role",
            "Key Vault Secrets Officer",
            "--vault",
            "kv-cli",
        )
        assert officer.returncode == 0, officer.stderr
        act = f'eval "$(python -m keyvault_emulator --state-dir {state} env --identity writer)"'
        assert act in officer.stdout
        found = Discovery.read(state)
        uri = found.vaults["kv-cli"].uri
        writer = SecretClient(
            uri,
            IdentityBoundCredential(found.identity_environment("writer")),
            verify_challenge_resource=False,
            connection_verify=found.ca_path,
        )
        writer.set_secret("from-cli", "ok")
        listed = _cli("--state-dir", str(state), "identity", "list")
        assert "writer" in listed.stdout
        for wrong, message in (
            (["bad name!"], "is not an identity name"),
            (["x", "--role", "Owner"], "--role needs --vault NAME or --scope RESOURCE_ID"),
            (["x", "--role", "Nope", "--vault", "kv-cli"], "unknown role 'Nope'"),
            (["x", "--role", "Owner", "--vault", "kv-none"], "no vault 'kv-none'"),
        ):
            refused = _cli("--state-dir", str(state), "identity", "add", *wrong)
            assert refused.returncode == 1, refused.stdout
            assert message in refused.stderr
    finally:
        child.stop()
