"""Provisioning on the in-process emulator: wall time and ARM requests per run.

Prints figures; never passes or fails on time.

**Command figures.** For each of ``--runs`` fresh environments (own resource
group and vault, two grants), through the real command path
(``keyvault-platform provision``):

1. fresh: plan, apply (group, vault, two role assignments), verify;
2. again: the same command with nothing to do (must make zero ARM writes);
3. plan only (``--plan``).

ARM requests are counted from the emulator's audit log, split into reads
and writes. ``--latency-ms`` adds server latency to every ARM request (real
Resource Manager answers in tens to hundreds of milliseconds).

**Role assignment figure.** ``--assignments`` (50) role assignments (one
grant over that many secret scopes) in a fresh environment, with
``--assignment-latency-ms`` (100) added to every ARM request. Only the apply
is timed (the plan before it is not), through the library
(:func:`keyvault_platform.provision.apply`), and each run interleaves:

- *concurrent*: the apply as it ships (``--concurrency``, default 8);
- *sequential*: the same apply with concurrency 1, the way provisioning
  applied before the executor (one assignment at a time; reported then as
  about 7.75 s for 60 requests at this latency);
- *bare*: the very requests the apply sends (group PUT, vault GET, vault
  PUT, then the assignment PUTs, the same number at a time as the
  concurrent apply), straight through the SDK clients with a thread pool:
  no planning, no executor. What the concurrent apply costs on top of it is
  the executor's overhead;
- *per request*: the median of 20 single ARM GETs, one after another.

The **floor** is the least time the needed requests can take when the
independent ones are sent together: the apply's dependency levels (group,
vault re-read, vault, then every assignment at once: 4) times the measured
per-request time. The concurrent apply is printed as a ratio to that floor
(it cannot reach it with a bound below the number of assignments: 50 at 8 at
a time are 7 levels, not 1), to the bare requests at the same bound, and
against the sequential apply. The emulator's per-principal ARM write limit
is turned off for this figure (so many runs would meet it, and throttling is
not what it measures).

Usage: python bench/bench_provision.py [--runs 5] [--latency-ms 0]
       [--assignments 50] [--assignment-latency-ms 100] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from keyvault_platform.cli.provision import run  # noqa: E402
from keyvault_platform.config.environment import load_environment  # noqa: E402
from keyvault_platform.provision import ArmClients, ProvisionPlan, apply, plan  # noqa: E402
from keyvault_platform.provision import vault as vaults  # noqa: E402
from keyvault_platform.provision.apply import DEFAULT_CONCURRENCY, Timing  # noqa: E402

from emulator.testing import RunningEmulator  # noqa: E402

#: The sequential apply before the executor, as reported then (60 requests, 100 ms).
REPORTED_SEQUENTIAL_S = 7.75
#: Dependency levels of a fresh apply: group PUT, vault GET (re-check), vault PUT,
#: then every role assignment PUT (independent of each other).
LEVELS = 4


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
    code = run([*args, "--auto-approve"], stdout=io.StringIO(), stderr=io.StringIO())
    elapsed = time.perf_counter() - start
    records = emulator.audit(plane="arm", since=since)
    writes = sum(1 for r in records if r.is_write)
    return code, elapsed, len(records) - writes, writes


def assignments_environment(emulator: RunningEmulator, directory: Path, count: int) -> Path:
    """A fresh environment whose one grant covers ``count`` secret scopes."""
    suffix = uuid.uuid4().hex[:10]
    path = directory / f"bench-ra-{suffix}.yaml"
    secrets = ", ".join(f"acme--s{i:03d}" for i in range(count))
    path.write_text(
        f"""\
target: {{kind: emulator, state_dir: {emulator.state_dir}}}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group: {{name: rg-r{suffix}, location: westeurope}}
vault: {{name: kv-r{suffix}}}
access:
  - name: app
    principal_id: {emulator.object_id("app")}
    role: Key Vault Secrets User
    scope: {{secrets: [{secrets}]}}
"""
    )
    return path


def planned_fresh(
    emulator: RunningEmulator, directory: Path, arm: ArmClients, count: int
) -> ProvisionPlan:
    planned = plan(load_environment(assignments_environment(emulator, directory, count)), arm)
    assert planned.assignments is not None and len(planned.assignments.creates) == count
    return planned


def timed_apply(
    emulator: RunningEmulator, planned: ProvisionPlan, arm: ArmClients, concurrency: int
) -> tuple[float, int]:
    timing = Timing(principal_wait_s=30, rbac_propagation_wait_s=0)
    since = time.time()
    start = time.perf_counter()
    result = apply(planned, arm, timing=timing, concurrency=concurrency)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"apply failed: {[(r.address, r.error) for r in result.failed]}")
    return elapsed, len(emulator.audit(plane="arm", since=since))


def timed_bare(
    emulator: RunningEmulator, planned: ProvisionPlan, arm: ArmClients, concurrency: int
) -> tuple[float, int]:
    """The apply's requests, sent straight through the SDK: the chain, then the PUTs."""
    from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
    from azure.mgmt.resource.resources.models import ResourceGroup

    env = planned.env
    assert planned.assignments is not None
    creates = planned.assignments.creates
    bodies = [
        RoleAssignmentCreateParameters(
            role_definition_id=item.role.id,
            principal_id=item.grant.principal_id,
            principal_type=item.grant.principal_type,
        )
        for item in creates
    ]

    def put(index: int) -> None:
        item = creates[index]
        arm.authorization.role_assignments.create(item.scope, item.name, bodies[index])

    since = time.time()
    start = time.perf_counter()
    arm.resources.resource_groups.create_or_update(
        env.resource_group.name, ResourceGroup(location=env.resource_group.location)
    )
    with contextlib.suppress(ResourceNotFoundError):  # the re-check: absent before a create
        arm.keyvault.vaults.get(env.resource_group.name, env.vault.name)
    arm.keyvault.vaults.begin_create_or_update(
        env.resource_group.name, env.vault.name, vaults.create_parameters(env.vault, env.tenant_id)
    ).result()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(put, range(len(creates))))
    elapsed = time.perf_counter() - start
    return elapsed, len(emulator.audit(plane="arm", since=since))


def per_request_s(arm: ArmClients, group: str, samples: int = 20) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        arm.resources.resource_groups.get(group)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def assignment_figure(emulator: RunningEmulator, directory: Path, args: argparse.Namespace) -> None:
    count, bound = args.assignments, args.concurrency
    rows: dict[str, list[tuple[float, int]]] = {"concurrent": [], "sequential": [], "bare": []}
    requests: list[float] = []
    env = load_environment(assignments_environment(emulator, directory, 1))
    target = env.target()
    emulator.set_arm_throttling(enabled=False)
    emulator.set_faults(None, latency_ms=args.assignment_latency_ms)
    try:
        with ArmClients(target) as arm:
            planned_fresh(emulator, directory, arm, count)  # warm: tokens, connections
            for _ in range(args.runs):
                for label, bound_here in (("concurrent", bound), ("sequential", 1)):
                    planned = planned_fresh(emulator, directory, arm, count)
                    rows[label].append(timed_apply(emulator, planned, arm, bound_here))
                planned = planned_fresh(emulator, directory, arm, count)
                rows["bare"].append(timed_bare(emulator, planned, arm, bound))
                requests.append(per_request_s(arm, planned.env.resource_group.name))
    finally:
        emulator.clear_faults(None)
        emulator.set_arm_throttling()
        target.close()
    median = {label: statistics.median(r[0] for r in found) for label, found in rows.items()}
    sent = {label: statistics.median(r[1] for r in found) for label, found in rows.items()}
    one = statistics.median(requests)
    floor = LEVELS * one
    levels_at_bound = LEVELS - 1 + math.ceil(count / bound)

    def row(label: str, seconds: float, what: str = "") -> None:
        print(f"  {label:<38}{seconds:>7.3f} s  {what}")

    def ratio(label: str, value: float) -> None:
        print(f"  {label:<38}{value:>7.2f}x")

    print()
    print(
        f"{count} role assignments, ARM latency {args.assignment_latency_ms:g} ms, "
        f"{args.runs} runs (medians)"
    )
    row("one ARM request", one)
    row("floor: independent requests together", floor, f"{LEVELS} levels x one request")
    row(f"floor at {bound} at a time", levels_at_bound * one, f"{levels_at_bound} levels")
    row(f"bare requests, {bound} at a time", median["bare"], f"{sent['bare']:g} ARM requests")
    row(
        f"apply, concurrency {bound}",
        median["concurrent"],
        f"{sent['concurrent']:g} ARM requests",
    )
    row(
        "apply, one at a time (the old way)",
        median["sequential"],
        f"{sent['sequential']:g} ARM requests",
    )
    ratio("concurrent apply / floor", median["concurrent"] / floor)
    ratio(f"concurrent apply / bare, {bound} at a time", median["concurrent"] / median["bare"])
    ratio("one at a time / concurrent apply", median["sequential"] / median["concurrent"])
    ratio(
        f"reported before ({REPORTED_SEQUENTIAL_S:g} s) / concurrent",
        REPORTED_SEQUENTIAL_S / median["concurrent"],
    )
    print(
        f"  (the {REPORTED_SEQUENTIAL_S:g} s for 60 requests was reported before the executor, "
        "not measured in this run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--assignments", type=int, default=50)
    parser.add_argument("--assignment-latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    emulator = RunningEmulator(state_dir=directory / "emulator", persist=False)
    figures: dict[str, list[tuple[float, int, int]]] = {"fresh": [], "again": [], "plan": []}
    try:
        if args.latency_ms:
            emulator.set_faults(None, latency_ms=args.latency_ms)
        for _ in range(args.runs):
            env = str(environment(emulator, directory))
            for label, extra in (("fresh", ()), ("again", ()), ("plan", ("--plan",))):
                code, elapsed, reads, writes = timed(emulator, "--env", env, *extra)
                if code != 0:
                    raise SystemExit(f"{label} run exited {code}")
                figures[label].append((elapsed, reads, writes))
        emulator.clear_faults(None)
        print(f"provisioning, {args.runs} environments, ARM latency {args.latency_ms:g} ms")
        print(f"{'run':<7}{'median s':>10}{'max s':>8}{'ARM reads':>11}{'ARM writes':>12}")
        for label, rows in figures.items():
            times = [r[0] for r in rows]
            print(
                f"{label:<7}{statistics.median(times):>10.3f}{max(times):>8.3f}"
                f"{statistics.median(r[1] for r in rows):>11g}"
                f"{statistics.median(r[2] for r in rows):>12g}"
            )
        if args.assignments:
            assignment_figure(emulator, directory, args)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
