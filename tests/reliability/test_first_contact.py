"""A first contact with Azure that explains itself: each hint of the failure table, provoked.

Every case runs the real command (in-process) against the emulator over
HTTPS, or, for "not signed in", with a credential that fails before any
request; each checks the message, its hint, and that it arrives within a
few seconds (generous bounds: the failures used to take 25 s or more).
The persistent-503 case counts requests in the emulator's audit log: one
retry owner per call path.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.provision import run as provision_run
from keyvault_platform.cli.sync import build_parser as sync_parser
from keyvault_platform.cli.sync import main as sync_main
from keyvault_platform.cli.sync import prepare, run_sync
from keyvault_platform.config.environment import load_environment
from keyvault_platform.provision.observe import ArmClients
from keyvault_platform.provision.verify import NETWORK_CHECK, verify
from keyvault_platform.sync.apply import DEFAULT_MAX_ATTEMPTS
from keyvault_platform.sync.pacing import VaultPacer
from keyvault_platform.target.azure import AzureTarget

from .sync_support import write_environment

#: "Within a few seconds": generous for a loaded 2-core machine.
FEW_SECONDS = 10.0


def manifests(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = "".join(
        f"  - name: s{i:03d}\n    value: {{generate: {{length: 24}}}}\n" for i in range(count)
    )
    (directory / "acme.yaml").write_text(f"scope: acme\nsecrets:\n{lines}", encoding="utf-8")
    return directory


def environment(tmp_path: Path, emulator: Any, vault: Any, **extra: Any) -> Path:
    return write_environment(
        tmp_path / "env.yaml",
        state_dir=extra.pop("state_dir", emulator.state_dir),
        tenant_id=emulator.tenant_id,
        subscription_id=emulator.subscription_id,
        vault_name=vault.name,
        **extra,
    )


def sync(argv: list[str], environ: dict[str, str] | None = None) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()

    def main(args: Any, output: cli.Output) -> int:
        return sync_main(args, output, environ=environ or {})

    started = time.monotonic()
    code = cli.run(sync_parser(), main, argv, stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue(), time.monotonic() - started


def writes(emulator: Any, vault: Any, since: float) -> list[Any]:
    return [r for r in emulator.audit(vault=vault.name, since=since) if r.is_write]


def test_a_write_denied_by_rbac_stops_the_apply_and_names_the_role(emulator, tmp_path) -> None:
    """The sync identity may read but not write: one failure, one hint, nothing more sent."""
    vault = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets User", vault.resource_id)  # reads only
    emulator.set_throttling(vault.name, enabled=False)
    env = environment(tmp_path, emulator, vault, concurrency=1)
    source = manifests(tmp_path / "m", 40)
    start = time.time()
    code, text, elapsed = sync(["--env", str(env), "--manifests", str(source), "--auto-approve"])
    assert code == 1, text
    assert elapsed < FEW_SECONDS, elapsed
    assert "ForbiddenByRbac" in text
    hint = next(line for line in text.splitlines() if "hint:" in line)
    assert "the sync identity 'sync'" in hint and "Key Vault Secrets Officer" in hint
    assert "access entry" in hint and "keyvault-platform provision" in hint
    assert "39 changes not sent" in text, text
    assert text.count("ForbiddenByRbac") == 1, text  # each failure printed once
    report = text[text.index("Applying ...") :].splitlines()
    assert len(report) < 15, report  # was two lines per secret
    assert len(writes(emulator, vault, start)) == 1  # stopped after the first denial


def _network(emulator: Any, vault: Any, properties: dict[str, Any]) -> None:
    emulator.keyvault_mgmt_client().vaults.update(
        "rg-local", vault.name, {"properties": properties}
    )


@pytest.mark.parametrize(
    ("properties", "inner", "words"),
    [
        (
            {"publicNetworkAccess": "Disabled"},
            "ForbiddenByConnection",
            ("public_network_access: Disabled", "self-hosted runner", "private endpoint"),
        ),
        (
            {"networkAcls": {"defaultAction": "Deny", "ipRules": []}},
            "ForbiddenByFirewall",
            ("network_acls.ip_rules", "self-hosted runner"),
        ),
    ],
)
def test_a_network_blocked_vault_says_which_runner_it_needs(
    emulator, vault, tmp_path, properties, inner, words
) -> None:
    _network(emulator, vault, properties)
    env = environment(tmp_path, emulator, vault)
    code, text, elapsed = sync(
        ["--env", str(env), "--manifests", str(manifests(tmp_path / "m", 3))]
    )
    assert code == 1 and elapsed < FEW_SECONDS, (elapsed, text)
    assert inner in text
    for word in words:
        assert word in text, (word, text)


def test_verify_fails_with_the_fix_when_the_network_rules_refuse_this_machine(
    emulator, vault, tmp_path
) -> None:
    _network(emulator, vault, {"publicNetworkAccess": "Disabled"})
    env = load_environment(environment(tmp_path, emulator, vault))
    target = env.target()
    try:
        with ArmClients(target) as arm:
            report = verify(env, target, arm)
    finally:
        target.close()
    assert not report.ok
    check = next(c for c in report.checks if c.name == NETWORK_CHECK)
    assert check.status == "failed"
    assert "ForbiddenByConnection" in check.detail and "self-hosted runner" in check.detail
    _network(emulator, vault, {"publicNetworkAccess": "Enabled"})
    target = env.target()
    try:
        with ArmClients(target) as arm:
            report = verify(env, target, arm)
    finally:
        target.close()
    assert next(c for c in report.checks if c.name == NETWORK_CHECK).status == "ok"


def test_a_vault_host_that_does_not_resolve_fails_at_once(emulator, vault, tmp_path) -> None:
    env = load_environment(environment(tmp_path, emulator, vault))
    target = env.target()
    unresolvable = f"https://kv-{uuid.uuid4().hex[:8]}.invalid/"  # RFC 6761: never resolves

    def factory() -> Any:
        return target.secret_client(unresolvable, identity="sync")

    out, err = io.StringIO(), io.StringIO()
    argv = ["--env", str(tmp_path / "env.yaml"), "--manifests", str(manifests(tmp_path / "m", 2))]
    started = time.monotonic()
    try:
        code = cli.run(
            sync_parser(),
            lambda args, output: sync_main(args, output, environ={}, client_factory=factory),
            argv,
            stdout=out,
            stderr=err,
        )
    finally:
        target.close()
    elapsed = time.monotonic() - started
    text = out.getvalue() + err.getvalue()
    assert code == 1, text
    # azure-core would retry a connection error three times with back-off (~6 s).
    assert elapsed < 3.0, elapsed
    assert "host not found" in text and ".invalid does not resolve" in text, text


def test_a_stale_emulator_discovery_file_is_named_at_once(emulator, vault, tmp_path) -> None:
    stale = tmp_path / "stale-state"
    stale.mkdir()
    data = json.loads((emulator.state_dir / "emulator.json").read_text(encoding="utf-8"))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    data["pid"] = int(gone.stdout)  # a process that has exited
    (stale / "emulator.json").write_text(json.dumps(data), encoding="utf-8")
    env = environment(tmp_path, emulator, vault, state_dir=stale)
    code, text, elapsed = sync(
        ["--env", str(env), "--manifests", str(manifests(tmp_path / "m", 2))]
    )
    assert code == 1, text
    assert elapsed < FEW_SECONDS, elapsed  # was 25 s of connection-refused retries
    assert f"names process {data['pid']}, which no longer exists" in text, text
    assert "make emulator" in text


class _NotSignedIn:
    """A credential that fails as DefaultAzureCredential does with nobody signed in; no I/O."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError(
            message="DefaultAzureCredential failed to retrieve a token from the included "
            "credentials.\nAttempted credentials:\n\tEnvironmentCredential: ..."
        )

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        return self.get_token(*scopes)

    def close(self) -> None:
        pass


AZURE_ENVIRONMENT = """\
target:
  kind: azure
tenant_id: 6f1e0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b
subscription_id: 1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d
resource_group:
  name: rg-secrets-prod
  location: westeurope
vault:
  name: kv-first-contact
"""


def test_not_signed_in_says_how_to_sign_in(tmp_path, monkeypatch) -> None:
    """Provisioning's first request is to Resource Manager, whose token is asked for first.

    (The sync's first request to a vault is an unauthenticated challenge:
    it would reach the network before any token is asked for.)
    """
    monkeypatch.setattr(AzureTarget, "credential", lambda self, identity=None: _NotSignedIn())
    env = tmp_path / "prod.yaml"
    env.write_text(AZURE_ENVIRONMENT, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = provision_run(["--env", str(env), "--plan"], stdout=out, stderr=err)
    elapsed = time.monotonic() - started
    text = out.getvalue() + err.getvalue()
    assert code == 1, text
    assert elapsed < FEW_SECONDS, elapsed
    assert "DefaultAzureCredential failed to retrieve a token" in text
    assert "az login" in text and "workload identity" in text, text
    assert "None :" not in text and "Attempted credentials" not in text, text


def test_a_vault_of_another_tenant_says_so(emulator, tmp_path) -> None:
    """A vault whose tenant is not the token's: Key Vault's 401 "Invalid issuer", explained."""
    other = str(uuid.uuid4())
    name = f"kv-tenant-{uuid.uuid4().hex[:8]}"
    body = {
        "location": "westeurope",
        "properties": {
            "tenantId": other,
            "sku": {"family": "A", "name": "standard"},
            "enableRbacAuthorization": True,
        },
    }
    mgmt = emulator.keyvault_mgmt_client()
    created = mgmt.vaults.begin_create_or_update("rg-local", name, body).result()
    emulator.assign_role("sync", "Key Vault Secrets Officer", created.id)
    handle = type("Handle", (), {"name": created.name})()
    env = environment(tmp_path, emulator, handle)
    code, text, elapsed = sync(
        ["--env", str(env), "--manifests", str(manifests(tmp_path / "m", 1))]
    )
    assert code == 1 and elapsed < FEW_SECONDS, (elapsed, text)
    assert "Invalid issuer" in text
    assert "another Entra tenant" in text and "tenant_id" in text, text


def test_a_persistent_503_costs_max_attempts_requests_per_change(emulator, vault, tmp_path) -> None:
    """One retry owner: the executor retries (paced), the SDK does not retry on top."""
    emulator.set_throttling(vault.name, enabled=False)
    client = emulator.secret_client(vault, "sync")  # the SDK's default retries, on
    request = prepare([manifests(tmp_path / "m", 2)], environ={}, allow_development_key=True)
    output = cli.Output(out=io.StringIO(), err=io.StringIO())
    unlimited = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
    emulator.set_faults(vault.name, outage=True, operations={"SecretSet"})
    start = time.time()
    try:
        code, _plan, result = run_sync(
            request, client, output, plan_only=False, pacer=unlimited, retry_base_s=0.01
        )
    finally:
        emulator.clear_faults(vault.name)
        client.close()
    assert code == 1 and result is not None and len(result.failed) == 2
    sets = [r for r in emulator.audit(vault=vault.name, since=start) if r.operation == "SecretSet"]
    assert len(sets) == 2 * DEFAULT_MAX_ATTEMPTS, len(sets)  # was 2 x 4 x 6 = 48
