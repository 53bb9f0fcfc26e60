"""Provisioning on the in-process emulator: wall time and ARM requests per run.

Prints figures; never passes or fails on time.

For each of ``--runs`` fresh environments (own resource group and vault,
two grants), through the real command path (``keyvault-platform provision``):

1. fresh: plan, apply (group, vault, two role assignments), verify;
2. again: the same command with nothing to do (must make zero ARM writes);
3. plan only (``--plan``).

ARM requests are counted from the emulator's audit log, split into reads
and writes. ``--latency-ms`` adds server latency to every ARM request (real
Resource Manager answers in tens to hundreds of milliseconds).

Usage: python bench/bench_provision.py [--runs 5] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from keyvault_platform.cli.provision import run  # noqa: E402

from emulator.testing import RunningEmulator  # noqa: E402


def environment(emulator: RunningEmulator, directory: Path) -> Path:
    suffix = uuid.uuid4().hex[:10]
    path = directory / f"bench-{suffix}.yaml"
    path.write_text(
        f"""\
target: {{kind: emulator, state_dir: {emulator.state_dir}}}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group: {{name: rg-b{suffix}, location: westeurope}}
vault: {{name: kv-b{suffix}}}
access:
  - {{name: app, principal_id: {emulator.object_id("app")}, role: Key Vault Secrets User}}
  - {{name: sync, principal_id: {emulator.object_id("sync")}, role: Key Vault Secrets Officer}}
"""
    )
    return path


def timed(emulator: RunningEmulator, *args: str) -> tuple[int, float, int, int]:
    since = time.time()
    start = time.perf_counter()
    code = run(list(args), stdout=io.StringIO(), stderr=io.StringIO())
    elapsed = time.perf_counter() - start
    records = emulator.audit(plane="arm", since=since)
    writes = sum(1 for r in records if r.is_write)
    return code, elapsed, len(records) - writes, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    emulator = RunningEmulator(state_dir=directory / "emulator", persist=False)
    if args.latency_ms:
        emulator.set_faults(None, latency_ms=args.latency_ms)
    figures: dict[str, list[tuple[float, int, int]]] = {"fresh": [], "again": [], "plan": []}
    try:
        for _ in range(args.runs):
            env = str(environment(emulator, directory))
            for label, extra in (("fresh", ()), ("again", ()), ("plan", ("--plan",))):
                code, elapsed, reads, writes = timed(emulator, "--env", env, *extra)
                if code != 0:
                    raise SystemExit(f"{label} run exited {code}")
                figures[label].append((elapsed, reads, writes))
    finally:
        emulator.stop()
    print(f"provisioning, {args.runs} environments, ARM latency {args.latency_ms:g} ms")
    print(f"{'run':<7}{'median s':>10}{'max s':>8}{'ARM reads':>11}{'ARM writes':>12}")
    for label, rows in figures.items():
        times = [r[0] for r in rows]
        print(
            f"{label:<7}{statistics.median(times):>10.3f}{max(times):>8.3f}"
            f"{statistics.median(r[1] for r in rows):>11g}"
            f"{statistics.median(r[2] for r in rows):>12g}"
        )


if __name__ == "__main__":
    main()
