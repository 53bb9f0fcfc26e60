"""``make interop``: clients nobody here wrote, against the emulator.

Starts an emulator (a fresh state directory under ``.state/interop``), then
drives the Azure CLI (``AZ``) and the JavaScript SDK (``interop/sdk_checks.cjs``
run by ``node`` with ``NODE_PATH`` naming the npm cache) through Resource
Manager, Microsoft Graph and the data plane. Prints one line per check
(``ok``/``FAIL``, the check, and on failure the client's last words) and exits 1
if any check failed. Never prints a secret value: the checks compare values
themselves and report only whether they matched.

Usage: ``python interop/run.py --az PATH --node-modules DIR``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keyvault_emulator.testing import EmulatorProcess  # noqa: E402

CLOUD = "KvEmulator"
SECRETS_OFFICER = "Key Vault Secrets Officer"
CLIENT_TIMEOUT_S = 180


class Checks:
    """Runs checks, prints one line each, remembers failures."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.count = 0

    def check(self, client: str, name: str, test: Callable[[], str | None]) -> None:
        """``test`` returns None when the check passed, else what went wrong."""
        try:
            problem = test()
        except Exception as error:  # a client failing is a failed check, not a crash
            problem = f"{type(error).__name__}: {error}"
        self.record(client, name, problem)

    def record(self, client: str, name: str, problem: str | None) -> None:
        """A check run elsewhere (the JS script): None when it passed."""
        self.count += 1
        if problem is None:
            print(f"ok    {client:4} {name}", flush=True)
        else:
            self.failed.append(f"{client} {name}")
            print(f"FAIL  {client:4} {name}: {_last_line(problem)}", flush=True)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


class AzureCli:
    """The ``az`` command with a private config directory, acting as one identity."""

    def __init__(self, az: str, config_dir: Path, environment: dict[str, str]) -> None:
        self.az = az
        self.environment = {
            **os.environ,
            **environment,
            "AZURE_CONFIG_DIR": str(config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "0",
            "AZURE_CORE_ONLY_SHOW_ERRORS": "1",
            "AZURE_CORE_NO_COLOR": "1",
        }

    def run(self, *args: str) -> Any:
        """The command's JSON output; raises with its stderr when it fails."""
        finished = subprocess.run(
            [self.az, *args, "-o", "json"],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(finished.stderr or finished.stdout)
        return json.loads(finished.stdout) if finished.stdout.strip() else None


def cli_checks(checks: Checks, az: AzureCli, emulator: EmulatorProcess) -> None:
    arm = emulator.arm_url
    group = f"rg-cli-{uuid.uuid4().hex[:6]}"
    vault = f"kvcli{uuid.uuid4().hex[:10]}"
    found: dict[str, Any] = {}

    def register() -> str | None:
        az.run("cloud", "register", "-n", CLOUD, "--endpoint-resource-manager", arm + "/")
        az.run("cloud", "set", "-n", CLOUD)
        cloud = az.run("cloud", "show", "-n", CLOUD)
        graph = cloud["endpoints"]["microsoftGraphResourceId"]
        return None if graph.startswith(arm) else f"Graph endpoint is {graph}, not the emulator"

    def login() -> str | None:
        accounts = az.run("login", "--identity")
        wanted = emulator.info["subscription_id"]
        return None if accounts[0]["id"] == wanted else f"signed in to {accounts[0]['id']}"

    def create_vault() -> str | None:
        az.run("group", "create", "-n", group, "-l", "westeurope")
        created = az.run(
            "keyvault", "create", "-g", group, "-n", vault, "-l", "westeurope",
            "--retention-days", "7", "--enable-rbac-authorization", "true",
        )  # fmt: skip
        found["uri"] = created["properties"]["vaultUri"]
        found["id"] = created["id"]
        return None if created["properties"]["provisioningState"] == "Succeeded" else "not done"

    def show_vault_without_group() -> str | None:
        shown = az.run("keyvault", "show", "-n", vault)
        return None if shown["id"] == found["id"] else f"showed {shown['id']}"

    def list_vaults() -> str | None:
        names = [v["name"] for v in az.run("keyvault", "list")]
        return None if vault in names else f"{vault} not in {names}"

    def list_deleted() -> str | None:
        deleted = az.run("keyvault", "list-deleted")
        return None if isinstance(deleted, list) else f"answered {deleted!r}"

    def assign(assignee: str) -> Callable[[], str | None]:
        def test() -> str | None:
            made = az.run(
                "role", "assignment", "create", "--assignee", assignee,
                "--role", SECRETS_OFFICER, "--scope", found["id"],
            )  # fmt: skip
            wanted = emulator.info["identities"][assignee]["object_id"]
            return None if made["principalId"] == wanted else f"assigned {made['principalId']}"

        return test

    def list_assignments() -> str | None:
        listed = az.run("role", "assignment", "list", "--assignee", "sync", "--scope", found["id"])
        roles = [a["roleDefinitionName"] for a in listed]
        return None if roles == [SECRETS_OFFICER] else f"listed {roles}"

    checks.check("cli", "cloud register --endpoint-resource-manager (metadata)", register)
    checks.check("cli", "login --identity", login)
    checks.check("cli", "keyvault create", create_vault)
    if "id" not in found:
        return
    checks.check("cli", "keyvault show -n (no group: resources $filter)", show_vault_without_group)
    checks.check("cli", "keyvault list", list_vaults)
    checks.check("cli", "keyvault list-deleted (vaults and managed HSMs)", list_deleted)
    checks.check("cli", "role assignment create --assignee sync (Graph)", assign("sync"))
    checks.check("cli", "role assignment create --assignee deployer", assign("deployer"))
    checks.check("cli", "role assignment list --assignee sync (Graph)", list_assignments)
    cli_data_plane_checks(checks, az, found["uri"])


def cli_data_plane_checks(checks: Checks, az: AzureCli, vault_uri: str) -> None:
    # The emulator's cloud publishes an empty Key Vault suffix: --vault-name is
    # the vault's authority (each vault listens on a port of its own).
    authority = vault_uri.removeprefix("https://").rstrip("/")
    name = "cli-secret"
    first, second = uuid.uuid4().hex, uuid.uuid4().hex

    def secret(*args: str) -> Any:
        return az.run("keyvault", "secret", *args, "--vault-name", authority)

    def set_twice() -> str | None:
        secret("set", "-n", name, "--value", first)
        made = secret("set", "-n", name, "--value", second)
        return None if made["name"] == name else f"set {made['name']}"

    def show() -> str | None:
        shown = secret("show", "-n", name)
        return None if shown["value"] == second else "the value read differs from the one set"

    def listed() -> str | None:
        names = [s["name"] for s in secret("list")]
        return None if name in names else f"listed {names}"

    def versions() -> str | None:
        count = len(secret("list-versions", "-n", name))
        return None if count == 2 else f"{count} versions"

    def delete() -> str | None:
        secret("delete", "-n", name)
        names = [s["name"] for s in secret("list-deleted")]
        return None if name in names else f"deleted list is {names}"

    def recover() -> str | None:
        secret("recover", "-n", name)
        shown = secret("show", "-n", name)
        return None if shown["value"] == second else "the recovered value differs"

    checks.check("cli", "keyvault secret set (two versions)", set_twice)
    checks.check("cli", "keyvault secret show", show)
    checks.check("cli", "keyvault secret list", listed)
    checks.check("cli", "keyvault secret list-versions", versions)
    checks.check("cli", "keyvault secret delete + list-deleted", delete)
    checks.check("cli", "keyvault secret recover", recover)


def js_checks(checks: Checks, node_modules: Path, emulator: EmulatorProcess) -> None:
    """Runs the JS SDK's checks; each prints one JSON line, reported here the same way."""
    environment = {
        **os.environ,
        **emulator.identity_env("deployer"),
        "NODE_PATH": str(node_modules),
        "NODE_EXTRA_CA_CERTS": emulator.info["ca_path"],
        "INTEROP_SYNC_OBJECT_ID": emulator.info["identities"]["sync"]["object_id"],
        "INTEROP_DEPLOYER_OBJECT_ID": emulator.info["identities"]["deployer"]["object_id"],
    }
    script = Path(__file__).resolve().parent / "sdk_checks.cjs"
    finished = subprocess.run(
        ["node", str(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S * 2,
        check=False,
    )
    reported = 0
    for line in finished.stdout.splitlines():
        try:
            result = json.loads(line)
        except ValueError:
            continue
        reported += 1
        checks.record("js", str(result["check"]), result.get("problem"))
    if finished.returncode != 0 or reported == 0:
        checks.record(
            "js",
            "sdk_checks.cjs ran to its end",
            f"exit status {finished.returncode}: {_last_line(finished.stderr or 'no output')}",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--az", required=True, help="the Azure CLI's az command")
    parser.add_argument("--node-modules", required=True, type=Path, help="npm packages")
    parser.add_argument("--state", type=Path, default=ROOT / ".state" / "interop")
    args = parser.parse_args(argv)
    shutil.rmtree(args.state, ignore_errors=True)
    args.state.mkdir(parents=True)
    emulator = EmulatorProcess(args.state / "emulator", log_path=args.state / "emulator.log")
    emulator.start()
    checks = Checks()
    try:
        with tempfile.TemporaryDirectory(prefix="az-", dir=args.state) as config_dir:
            cli = AzureCli(args.az, Path(config_dir), emulator.identity_env("deployer"))
            cli_checks(checks, cli, emulator)
        js_checks(checks, args.node_modules, emulator)
    finally:
        emulator.stop()
    passed = checks.count - len(checks.failed)
    print(f"interop: {passed} of {checks.count} checks passed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
