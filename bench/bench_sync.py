"""Initial sync of 1,000 secrets under Azure-like limits, against a naive loop.

Prints figures; never passes or fails on time.

Both runs use the in-process emulator with its Azure-like service limits on
(per vault per 10 s: 300 secret writes, 4,000 other operations; 429 with
``Retry-After`` past them), each on a fresh vault, in the same process:

1. ``sync``: the real command path (:func:`keyvault_platform.cli.sync.run_sync`):
   one listing, a plan, then the paced, bounded-concurrency apply.
2. ``naive``: ``for each secret: client.set_secret(name, value)`` with the
   SDK's default retry policy (which honours ``Retry-After``).

For each: wall time, its ratio to the floor the limits impose (1,000 writes
at 300 per 10 s = 33.3 s, as the issue states it; a sliding window allows a
first burst of 300, so about 30 s is reachable), the 429s met (counted in
the emulator's audit log) and secrets that failed. Then a no-op re-sync of
the same 1,000: its value reads (SecretGet) and list calls, from the audit.

``--latency-ms`` adds server latency to every request (a real vault answers
in tens of milliseconds, which is where a sequential loop falls behind).

Usage: python bench/bench_sync.py [--secrets 1000] [--latency-ms 0] [--skip-naive]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from keyvault_platform.cli import conventions as cli  # noqa: E402
from keyvault_platform.cli.sync import prepare, run_sync  # noqa: E402
from keyvault_platform.sync.pacing import WINDOW_S, WRITES_PER_WINDOW  # noqa: E402

from keyvault_emulator.testing import RunningEmulator  # noqa: E402

VALUE = "bench-value-" + "x" * 40
KEY = "bench-fingerprint-key-" + "k" * 40


def fresh_vault(emulator: RunningEmulator, latency_ms: float):
    vault = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets Officer", vault.resource_id)
    emulator.set_throttling(vault.name, enabled=True)  # Azure's limits (emulator defaults)
    if latency_ms:
        emulator.set_faults(vault.name, latency_ms=latency_ms)
    return vault


def count(emulator: RunningEmulator, vault_name: str, since: float) -> dict[str, int]:
    records = emulator.audit(vault=vault_name, since=since)
    return {
        "requests": len(records),
        "429": sum(r.status == 429 for r in records),
        "sets_ok": sum(r.operation == "SecretSet" and r.status == 200 for r in records),
        "gets": sum(r.operation == "SecretGet" for r in records),
        "lists": sum(
            r.operation in ("SecretList", "SecretListDeleted", "SecretListVersions")
            for r in records
        ),
        "writes": sum(
            r.operation in ("SecretSet", "SecretUpdate", "SecretDelete", "SecretRecover")
            for r in records
        ),
    }


def write_manifest(directory: Path, secrets: int) -> None:
    lines = ["scope: bench", "secrets:"]
    for i in range(secrets):
        lines += [f"  - name: s{i:04d}", "    value: {env: BENCH_VALUE}"]
    (directory / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_paced(emulator, vault, directory: Path, concurrency: int):
    request = prepare(
        [directory],
        environ={"BENCH_VALUE": VALUE, "SYNC_FINGERPRINT_KEY": KEY},
        root=directory,
    )
    client = emulator.secret_client(vault, "sync")
    out = cli.Output(out=io.StringIO(), err=io.StringIO())
    since = time.time()
    started = time.perf_counter()
    code, _, result = run_sync(request, client, out, plan_only=False, concurrency=concurrency)
    wall = time.perf_counter() - started
    failed = len(result.failed) if result else 0
    return wall, code, failed, count(emulator, vault.name, since), request, client


def run_naive(emulator, vault, secrets: int):
    client = emulator.secret_client(vault, "sync")  # the SDK's default retry policy
    since = time.time()
    started = time.perf_counter()
    failed = 0
    for i in range(secrets):
        try:
            client.set_secret(f"bench--s{i:04d}", VALUE)
        except Exception:  # a naive loop just counts what failed
            failed += 1
    wall = time.perf_counter() - started
    return wall, failed, count(emulator, vault.name, since)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    floor = args.secrets * WINDOW_S / WRITES_PER_WINDOW
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        emulator = RunningEmulator(state_dir=Path(tmp) / "state", persist=False)
        try:
            manifests = Path(tmp) / "manifests"
            manifests.mkdir()
            write_manifest(manifests, args.secrets)
            print(
                f"Initial sync of {args.secrets:,} secrets, limits {WRITES_PER_WINDOW} writes / "
                f"{WINDOW_S:.0f} s per vault (floor {floor:.1f} s), added latency "
                f"{args.latency_ms:g} ms"
            )
            print(f"{'':8} {'wall s':>8} {'x floor':>8} {'429s':>6} {'failed':>7} {'requests':>9}")

            vault = fresh_vault(emulator, args.latency_ms)
            wall, code, failed, seen, request, client = run_paced(
                emulator, vault, manifests, args.concurrency
            )
            print(
                f"{'sync':8} {wall:8.1f} {wall / floor:8.2f} {seen['429']:6d} {failed:7d} "
                f"{seen['requests']:9d}   (exit {code}, concurrency {args.concurrency})"
            )

            if not args.skip_naive:
                naive_vault = fresh_vault(emulator, args.latency_ms)
                n_wall, n_failed, n_seen = run_naive(emulator, naive_vault, args.secrets)
                print(
                    f"{'naive':8} {n_wall:8.1f} {n_wall / floor:8.2f} {n_seen['429']:6d} "
                    f"{n_failed:7d} {n_seen['requests']:9d}   (sequential set_secret)"
                )
                print(f"sync / naive wall time: {wall / n_wall:.2f}")

            out = cli.Output(out=io.StringIO(), err=io.StringIO())
            since = time.time()
            started = time.perf_counter()
            code, plan, _ = run_sync(request, client, out, plan_only=False)
            noop = time.perf_counter() - started
            seen = count(emulator, vault.name, since)
            print(
                f"no-op re-sync: {noop:.2f} s, changes {len(plan.plan.pending)}, value reads "
                f"(SecretGet) {seen['gets']}, list calls {seen['lists']}, writes "
                f"{seen['writes']} (exit {code})"
            )
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
