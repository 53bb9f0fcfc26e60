"""The sync killed with SIGKILL mid-apply, at seeded points, then re-run.

The emulator runs as a child process (``EmulatorProcess``, persistent
state); the sync runs as ``keyvault-platform sync`` exactly as a pipeline
runs it. For each kill point the manifests change first (new values for
80% of the env and file secrets), so the apply has work to do; the sync is
started, and once the emulator's audit log shows the seeded number of
successful writes, it gets SIGKILL: no cleanup, no flush, requests in
flight cut off.

Right after each kill, every declared secret that exists is checked, as
the sync identity: it carries the owner tag, its fingerprint tag matches
its value, and its value is either the new one or the one it had before
(never anything else); generated secrets keep the value they had. Then
the sync is re-run: it must exit 0, leave every value right and tagged,
and a third run must plan no changes.

``make test`` runs 3 kill points; ``make soak`` runs 20.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG, OWNER_VALUE

from emulator.testing import EmulatorProcess

from .leakscan import LeakScanner
from .sync_support import Fleet, keyring, read_back, write_environment

REPO_ROOT = Path(__file__).resolve().parents[2]

FLEET_SIZE = 100
POLL_S = 0.01


def child_environment(fleet: Fleet) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_KEY_VAULT_URL")
        and not k.startswith("REL_")
    }
    environ.update(fleet.environ)
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


def sync_command(env_path: Path, fleet: Fleet, *extra: str) -> list[str]:
    """``keyvault-platform sync`` as a pipeline runs it, on the fleet's manifests."""
    return [
        sys.executable,
        "-m",
        "keyvault_platform",
        "sync",
        "--env",
        str(env_path),
        "--manifests",
        str(fleet.directory),
        "--auto-approve",
        *extra,
    ]


def start_sync(env_path: Path, fleet: Fleet, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = sync_command(env_path, fleet, *extra)
    with log.open("wb") as sink:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=child_environment(fleet), stdout=sink, stderr=sink
        )


def successful_sets(child: EmulatorProcess, vault: str, since: float) -> int:
    records = child.admin("GET", f"audit?vault={vault}&operation=SecretSet&since={since}")
    return sum(1 for r in records["value"] if r["status"] == 200)


def check_consistent(
    client: Any, fleet: Fleet, before: dict[str, str], generated: dict[str, str]
) -> tuple[int, int]:
    """After a kill: (changed secrets already new, changed secrets still old).

    Fails on anything else: a lost tag, a fingerprint that does not match the
    value, a value never given, a generated value replaced, a secret lost.
    """
    ring = keyring()
    new = old = 0
    for name, expected in fleet.values.items():
        try:
            secret = client.get_secret(name)
        except ResourceNotFoundError:
            assert name not in before and name not in generated, f"{name} was lost"
            continue
        tags = secret.properties.tags or {}
        value = secret.value or ""
        assert tags.get(OWNER_TAG) == OWNER_VALUE, f"{name} lost its owner tag"
        assert ring.verify(tags.get(FINGERPRINT_TAG), name, value) is fp.Verdict.MATCH, (
            f"{name}: fingerprint tag does not match the value"
        )
        if expected is None:
            assert name not in generated or generated[name] == value, f"{name} was regenerated"
        elif name not in before:
            assert value == expected, f"{name} holds a value it was never given"
        elif value == expected:
            new += 1
        else:
            assert value == before[name], f"{name} holds a value it was never given"
            old += 1
    return new, old


def run_kill_points(tmp_path: Path, points: int, seed: int) -> None:
    rng = random.Random(seed)
    child = EmulatorProcess(tmp_path / "emulator").start()
    try:
        vault = child.create_vault(
            f"kv-crash{seed}",
            resource_group="rg-local",
            roles={"sync": "Key Vault Secrets Officer"},
        )
        env_path = write_environment(
            tmp_path / "env.yaml",
            state_dir=child.state_dir,
            tenant_id=child.info["tenant_id"],
            subscription_id=child.info["subscription_id"],
            vault_name=vault["name"],
        )
        fleet = Fleet(tmp_path / "manifests", FLEET_SIZE, seed=seed)
        client = child.secret_client(vault["uri"], "sync")
        # Slow each request a little so that the kill lands mid-apply.
        child.admin("POST", "faults", {"vault": vault["name"], "plan": {"latency_ms": 30}})
        scanner = LeakScanner(fleet.known_values, label="declared")
        generated: dict[str, str] = {}
        before: dict[str, str] = {}
        outcomes = []
        for point in range(points):
            if point:
                before = fleet.change_values(rng)
                scanner.add(*fleet.known_values, label="declared")
            pending = len(before) if point else FLEET_SIZE
            target = rng.randint(1, pending - 1)
            started = time.time()
            sync = start_sync(env_path, fleet, tmp_path / f"kill-{point}.log")
            written = 0
            while sync.poll() is None:
                written = successful_sets(child, vault["name"], started)
                if written >= target:
                    sync.send_signal(signal.SIGKILL)
                    break
                time.sleep(POLL_S)
            code = sync.wait(timeout=60)
            killed = code == -signal.SIGKILL
            written = successful_sets(child, vault["name"], started)
            new, old = check_consistent(client, fleet, before, generated)
            child.admin("POST", "faults", {"vault": vault["name"], "plan": None})

            rerun = subprocess.run(
                sync_command(env_path, fleet),
                cwd=REPO_ROOT,
                env=child_environment(fleet),
                capture_output=True,
                timeout=300,
            )
            assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
            verdict = read_back(client, fleet)
            assert not verdict.bad, verdict.summary()
            for name, value in generated.items():
                assert verdict.generated[name] == value, f"{name} was regenerated"
            generated = dict(verdict.generated)
            scanner.add(*generated.values(), label="generated")
            check = subprocess.run(
                sync_command(env_path, fleet, "--plan"),
                cwd=REPO_ROOT,
                env=child_environment(fleet),
                capture_output=True,
                timeout=300,
            )
            assert check.returncode == 0, check.stdout.decode()[-2000:]  # 0: no changes
            for label, text in (
                (f"killed run {point}", (tmp_path / f"kill-{point}.log").read_bytes()),
                (f"re-run {point}", rerun.stdout + rerun.stderr),
                (f"plan {point}", check.stdout + check.stderr),
            ):
                scanner.scan_text(label, text)
            outcomes.append(
                {
                    "point": point,
                    "target": target,
                    "pending": pending,
                    "acknowledged_before_kill": written,
                    "killed": killed,
                    "new_at_kill": new,
                    "old_at_kill": old,
                }
            )
            print(outcomes[-1])
            child.admin("POST", "faults", {"vault": vault["name"], "plan": {"latency_ms": 30}})
        scanner.assert_clean()
        killed_mid_apply = [
            o for o in outcomes if o["killed"] and o["acknowledged_before_kill"] < o["pending"]
        ]
        print(f"{len(killed_mid_apply)}/{points} kills landed mid-apply")
        assert len(killed_mid_apply) >= max(1, points * 3 // 4)
    finally:
        child.kill()


def test_sync_killed_at_3_seeded_points_converges(tmp_path: Path) -> None:
    run_kill_points(tmp_path, 3, seed=3)


@pytest.mark.slow
def test_sync_killed_at_20_seeded_points_converges(tmp_path: Path) -> None:
    run_kill_points(tmp_path, 20, seed=20)
