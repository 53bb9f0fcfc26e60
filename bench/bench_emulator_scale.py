"""Does the emulator's cost grow with its size and history? Prints figures; never fails.

Each figure stands beside the same figure at a small size, measured in the
same run (rounds interleaved), as a ratio; the goal (issue 14) is within 2x:

1. a list page of a 50,000-secret vault, beside a page of a 500-secret vault;
2. a write to a secret with 5,000 versions, beside one to a secret with one;
3. a restart with 100 vaults x 500 secrets and a long audit history (200,000
   records), beside a restart with the same 50,000 secrets in one vault and
   no history: restarts cost what the live state costs. Each restart runs in
   a fresh process (time from constructing the emulator until it serves, and
   the process's peak memory).

State is seeded through the emulator's own models (through HTTPS it would
take minutes); everything measured goes through the real SDK or a restart.
Usage: python bench/bench_emulator_scale.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyvault_emulator.config import EmulatorConfig, ThrottleLimits
from keyvault_emulator.keyvault.models import Secret, SecretVersion
from keyvault_emulator.testing import RunningEmulator

CONFIG = EmulatorConfig(throttling=ThrottleLimits(enabled=False))
SEED_CHUNK = 2_000


def _seed_secrets(emulator: RunningEmulator, vault: str, count: int) -> None:
    secrets = emulator.world.vault_secrets[vault.lower()]
    for start in range(0, count, SEED_CHUNK):
        names = [f"s-{i:06d}" for i in range(start, min(count, start + SEED_CHUNK))]
        emulator.server.call(lambda names=names: [secrets.set(n, "v") for n in names])


def _seed_versions(emulator: RunningEmulator, vault: str, name: str, count: int) -> None:
    now = int(time.time())
    versions = [
        SecretVersion(f"{i:032x}", "v", None, None, True, None, None, now, now)
        for i in range(count)
    ]
    secrets = emulator.world.vault_secrets[vault.lower()]
    emulator.server.call(secrets.restore, Secret(name=name, versions=versions))


def _seed_audit(emulator: RunningEmulator, count: int) -> None:
    audit = emulator.world.audit
    for start in range(0, count, 20_000):

        def record(n: int = min(20_000, count - start)) -> None:
            for _ in range(n):
                audit.record(
                    plane="data",
                    operation="SecretGet",
                    status=200,
                    principal="00000000-0000-0000-0000-000000000001",
                    identity="app",
                    vault="history-kv",
                    secret="s-000001",
                    method="GET",
                    resource="/secrets/s-000001",
                )
            audit.flush()

        emulator.server.call(record)


def _page_ms(client: Any, pages: int) -> float:
    """Milliseconds per page over the first ``pages`` pages of 25."""
    started = time.perf_counter()
    iterator = client.list_properties_of_secrets().by_page()
    for _ in range(pages):
        list(next(iterator))
    return (time.perf_counter() - started) * 1000 / pages


def _interleaved(
    small: Callable[[], float], large: Callable[[], float], rounds: int
) -> tuple[float, float]:
    smalls, larges = [], []
    for _ in range(rounds):
        smalls.append(small())
        larges.append(large())
    return statistics.median(smalls), statistics.median(larges)


def listing_and_writes(rounds: int) -> list[tuple[str, float, str, float]]:
    with tempfile.TemporaryDirectory() as state:
        emulator = RunningEmulator(CONFIG, state_dir=Path(state), persist=True)
        try:
            small = emulator.create_vault("small-kv")
            large = emulator.create_vault("large-kv")
            for vault in (small, large):
                emulator.assign_role("app", "Key Vault Secrets Officer", vault.resource_id)
            _seed_secrets(emulator, "small-kv", 500)
            _seed_secrets(emulator, "large-kv", 50_000)
            _seed_versions(emulator, "small-kv", "long-history", 5_000)
            emulator.server.call(emulator.world.vault_secrets["small-kv"].set, "short", "v")
            small_client = emulator.secret_client(small, "app")
            large_client = emulator.secret_client(large, "app")
            _page_ms(small_client, 2), _page_ms(large_client, 2)  # warm up
            page_small, page_large = _interleaved(
                lambda: _page_ms(small_client, 10), lambda: _page_ms(large_client, 10), rounds
            )

            def write_ms(name: str) -> float:
                started = time.perf_counter()
                for _ in range(5):
                    small_client.set_secret(name, "v")
                return (time.perf_counter() - started) * 1000 / 5

            write_short, write_long = _interleaved(
                lambda: write_ms("short"), lambda: write_ms("long-history"), rounds
            )
        finally:
            emulator.stop()
    return [
        ("list page, 50,000 secrets", page_large, "page, 500 secrets", page_small),
        ("write, 5,000 versions", write_long, "write, 1 version", write_short),
    ]


RESTART = """
import json, resource, sys, time
from pathlib import Path
from keyvault_emulator.server import Emulator
started = time.perf_counter()
emulator = Emulator(state_dir=Path(sys.argv[1])).start()
elapsed = time.perf_counter() - started
emulator.stop()
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mib": peak_mib}))
"""


def _restart(state: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", RESTART, str(state)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def restarts(rounds: int) -> list[tuple[str, float, str, float]]:
    with tempfile.TemporaryDirectory() as root:
        many, one = Path(root) / "many", Path(root) / "one"
        seeding = RunningEmulator(CONFIG, state_dir=many, persist=True)
        try:
            for v in range(100):
                seeding.create_vault(f"kv-{v:03d}")
                _seed_secrets(seeding, f"kv-{v:03d}", 500)
            _seed_audit(seeding, 200_000)
        finally:
            seeding.stop()
        seeding = RunningEmulator(CONFIG, state_dir=one, persist=True)
        try:
            seeding.create_vault("kv-all")
            _seed_secrets(seeding, "kv-all", 50_000)
        finally:
            seeding.stop()
        runs_one, runs_many = [], []
        for _ in range(rounds):
            runs_one.append(_restart(one))
            runs_many.append(_restart(many))
    seconds_one = statistics.median(r["seconds"] for r in runs_one)
    seconds_many = statistics.median(r["seconds"] for r in runs_many)
    peak_one = statistics.median(r["peak_mib"] for r in runs_one)
    peak_many = statistics.median(r["peak_mib"] for r in runs_many)
    return [
        (
            "restart s, 100 vaults x 500 + audit",
            seconds_many * 1000,
            "1 vault x 50,000, no history",
            seconds_one * 1000,
        ),
        ("restart peak memory MiB, same", peak_many, "same", peak_one),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    rows = listing_and_writes(args.rounds) + restarts(max(2, args.rounds // 2))
    print("Emulator scale benchmark (medians of interleaved rounds; goal: within 2x)")
    for label, large, small_label, small in rows:
        unit = "MiB" if "MiB" in label else "ms"
        label = label.replace(" MiB", "").replace(" s,", ",")
        print(
            f"  {label:38} {large:9.1f} {unit}   beside {small_label:30} {small:9.1f} {unit}"
            f"   ratio {large / small:5.2f}x"
        )


if __name__ == "__main__":
    main()
