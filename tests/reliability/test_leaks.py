"""No secret value leaks from any command or the runtime, at DEBUG, with warnings on.

Every command runs with ``-vv`` (DEBUG for our loggers and azure-core's),
under :class:`~tests.reliability.leakscan.LeakScanner`: stdout, stderr, all
log records of all loggers, warnings ("always") and exception chains are
scanned for every value used: the declared ones, and the generated ones,
learnt afterwards by reading them back as the sync identity (never printed).

- provision (plan, apply, verify, no-op), text and JSON;
- sync (plan, apply, metadata change, value change, drift set by hand,
  rotation of a generated secret, prune, no-op), text and JSON; a failing
  apply (injected errors) and a refused manifest;
- the runtime (sync and async stores: get, GLOBAL fallback, not found,
  health, errors: permission denied, outage);
- the demo (``python -m scripts.demo`` as a child process, its emulator
  log included), whose generated values are read back afterwards.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.provision import run as provision_run
from keyvault_platform.cli.sync import build_parser as sync_parser
from keyvault_platform.cli.sync import main as sync_main
from orgsecrets import AsyncSecretStore, EmulatorSettings, SecretStore, StoreConfig

from emulator.testing import EmulatorProcess

from .leakscan import LeakScanner
from .sync_support import FINGERPRINT_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def provision(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = provision_run([*argv, "--auto-approve"], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def sync(environ: dict[str, str], *argv: str) -> tuple[int, str]:
    def command(args: Any, out: cli.Output) -> int:
        return sync_main(args, out, environ=environ)

    out, err = io.StringIO(), io.StringIO()
    code = cli.run(sync_parser(), command, [*argv, "--auto-approve"], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_provision_sync_and_runtime_leak_nothing(emulator, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:10]
    vault_name, group = f"kv-l{suffix}", f"rg-l{suffix}"
    env_path = tmp_path / "env.yaml"
    env_path.write_text(
        f"""\
target:
  kind: emulator
  state_dir: {emulator.state_dir}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group:
  name: {group}
  location: westeurope
vault:
  name: {vault_name}
access:
  - name: app-reads-secrets
    principal_id: {emulator.object_id("app")}
    role: Key Vault Secrets User
  - name: sync-writes-secrets
    principal_id: {emulator.object_id("sync")}
    role: Key Vault Secrets Officer
sync:
  identity: sync
"""
    )
    manifests = tmp_path / "manifests"
    (manifests / "values").mkdir(parents=True)
    db, smtp, token, by_hand = (f"leak-{k}-{uuid.uuid4().hex}" for k in ("db", "smtp", "tk", "hd"))
    (manifests / "values" / "smtp.txt").write_text(smtp)
    manifest = """\
scope: contoso
secrets:
  - name: db-password
    description: primary database
    value: {env: LEAK_DB}
  - name: signing-key
    value: {generate: {length: 48, alphabet: printable}}
  - name: old-one
    value: {env: LEAK_TOKEN}
"""
    (manifests / "contoso.yaml").write_text(manifest)
    (manifests / "GLOBAL.yaml").write_text(
        "scope: GLOBAL\nsecrets:\n  - name: smtp-password\n    value: {file: values/smtp.txt}\n"
    )
    environ = {"LEAK_DB": db, "LEAK_TOKEN": token, "SYNC_FINGERPRINT_KEY": FINGERPRINT_KEY}
    scanner = LeakScanner([db, smtp, token, by_hand, FINGERPRINT_KEY], label="declared")
    base = ["--env", str(env_path), "--manifests", str(manifests), "-vv"]
    waits = ["--principal-wait", "5", "--rbac-wait", "60"]

    with scanner.capture("provision"):
        assert provision("--env", str(env_path), "--plan", "-vv")[0] == 2
        assert provision("--env", str(env_path), *waits, "-vv")[0] == 0
        assert provision("--env", str(env_path), *waits, "-vv", "--output", "json")[0] == 0
    from keyvault_platform.config.environment import load_environment

    target = load_environment(env_path).target()
    vault_url = target.vault_url(vault_name, resource_group=group)
    reader = emulator.secret_client(vault_url, "sync")
    generated: list[str] = []

    with scanner.capture("sync"):
        assert sync(environ, *base, "--plan")[0] == 2
        assert sync(environ, *base, "--output", "json")[0] == 0
        generated.append(reader.get_secret("contoso--signing-key").value)
        # value change, metadata change, drift set by hand, rotation, prune
        environ["LEAK_DB"] = db + "-v2"
        scanner.add(db + "-v2", label="declared")
        (manifests / "contoso.yaml").write_text(manifest.replace("primary database", "main db"))
        reader.set_secret("GLOBAL--smtp-password", by_hand)
        assert sync(environ, *base)[0] == 0
        assert sync(environ, *base, "--rotate", "contoso--signing-key")[0] == 0
        generated.append(reader.get_secret("contoso--signing-key").value)
        (manifests / "contoso.yaml").write_text(
            manifest.replace("primary database", "main db").split("  - name: old-one")[0]
        )
        assert sync(environ, *base, "--prune")[0] == 0
        assert sync(environ, *base, "--output", "json")[0] == 0
        # a failing apply: injected errors on every write
        environ["LEAK_DB"] = db + "-v3"
        scanner.add(db + "-v3", label="declared")
        vault = next(v for v in emulator.info()["vaults"] if v == vault_name)
        # 501 is not retried (by the SDK or the sync), so the failure is quick
        emulator.set_faults(vault, error_rate=1.0, statuses=(501,), operations={"SecretSet"})
        try:
            code, output = sync(environ, *base, "--concurrency", "1")
        finally:
            emulator.clear_faults(vault)
        assert code == 1 and "contoso--db-password" in output
        # a refused manifest (its env var holds a value)
        (manifests / "bad.yaml").write_text("scope: contoso\nsecrets:\n  - name: x\n")
        assert sync(environ, *base)[0] == 1
        (manifests / "bad.yaml").unlink()

    config = StoreConfig(
        vault_url=vault_url,
        emulator=EmulatorSettings(ca_path=emulator.ca_path),
        retry_total=1,
        retry_backoff_factor_s=0.01,
    )
    with scanner.capture("runtime"):
        store = SecretStore(config, credential=emulator.credential("app"))
        try:
            assert store.get("db-password", org="contoso") == db + "-v2"
            assert store.get("smtp-password", org="contoso") == smtp
            with pytest.raises(KeyError) as missing:
                store.get("nothing", org="contoso")
            scanner.scan_exception(missing.value)
            assert store.health().ok
            emulator.set_faults(vault, outage=True)
            try:
                store.invalidate()
                with pytest.raises(Exception) as outage:
                    store.get("db-password", org="contoso")
                scanner.scan_exception(outage.value)
                assert not store.health().ok
            finally:
                emulator.clear_faults(vault)
        finally:
            store.close()
        denied = SecretStore(config, credential=emulator.credential("outsider"))
        try:
            with pytest.raises(Exception) as refused:
                denied.get("db-password", org="contoso")
            scanner.scan_exception(refused.value)
        finally:
            denied.close()

        async def read_async() -> None:
            credential = emulator.async_credential("app")
            astore = AsyncSecretStore(config, credential=credential)
            try:
                assert await astore.get("db-password", org="contoso") == db + "-v2"
                assert (await astore.health()).ok
            finally:
                await astore.close()
                await credential.close()

        asyncio.run(read_async())

    scanner.add(*generated, label="generated")
    scanner.assert_clean()
    print(
        f"scanned {scanner.scanned_chars:,} characters and {scanner.scanned_records:,} log "
        f"records for {scanner.value_count} values: no hit"
    )


def test_demo_leaks_nothing(tmp_path: Path) -> None:
    from scripts.demo import DEMO_ENV_VALUES, DEMO_FILE_VALUES

    state = tmp_path / "emulator"
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_KEY_VAULT_URL")
    }
    environ["PYTHONWARNINGS"] = "always"
    demo = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--state-dir", str(state), "-vv"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr.decode()[-3000:]
    scanner = LeakScanner(
        [*DEMO_ENV_VALUES.values(), *DEMO_FILE_VALUES.values()], label="demo input"
    )
    scanner.scan_text("demo stdout", demo.stdout)
    scanner.scan_text("demo stderr", demo.stderr)
    for log in (REPO_ROOT / ".state" / "demo").glob("*.log"):
        scanner.scan_text(f"demo {log.name}", log.read_bytes())
    # the generated values, read back from the demo's (persisted) vault
    child = EmulatorProcess(state).start()
    try:
        vault = child.info["vaults"]["kv-secrets-local"]
        client = child.secret_client(vault["uri"], "sync")
        generated = [
            client.get_secret(name).value
            for name in (
                "GLOBAL--session-signing-key",
                "contoso--api-signing-key",
                "fabrikam--webhook-secret",
            )
        ]
    finally:
        child.kill()
    scanner.add(*generated, label="generated")
    scanner.assert_clean()
