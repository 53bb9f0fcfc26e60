"""Cache-hit cost of ``SecretStore.get`` against two baselines, measured in one run.

* ours: ``orgsecrets.SecretStore.get(name, org=...)`` on a warm cache, for an
  org hit and for a GLOBAL fallback (the org name is a cached "not found");
* aws-secretsmanager-caching: ``SecretCache.get_secret_string`` on a warm
  cache, with a stub client (no network: its hit path only);
* the floor: a bare ``dict.get`` plus a ``time.monotonic()`` comparison.

Each sample times a batch of calls with ``perf_counter_ns`` and divides, so
the timer's own cost is spread over the batch; median and p99 are over the
samples. Prints figures and ratios; never fails on time.

    .venv/bin/python bench/bench_runtime_cache.py [--samples 3000] [--batch 100]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

from orgsecrets import SecretStore, StoreConfig


def measure(call: Callable[[], object], samples: int, batch: int) -> tuple[float, float]:
    """(median, p99) nanoseconds per call."""
    for _ in range(batch * 20):  # warm up
        call()
    per_call: list[float] = []
    loop = range(batch)
    clock = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            start = clock()
            for _ in loop:
                call()
            per_call.append((clock() - start) / batch)
    finally:
        if gc_was_enabled:
            gc.enable()
    per_call.sort()
    return statistics.median(per_call), per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))]


class StubSecretsManager:
    """Just enough of a botocore ``secretsmanager`` client for the AWS cache."""

    def __init__(self, value: str) -> None:
        self._value = value

    def describe_secret(self, SecretId: str) -> dict[str, object]:
        return {"ARN": SecretId, "Name": SecretId, "VersionIdsToStages": {"v1": ["AWSCURRENT"]}}

    def get_secret_value(self, SecretId: str, VersionId: str) -> dict[str, object]:
        return {
            "ARN": SecretId,
            "Name": SecretId,
            "VersionId": VersionId,
            "SecretString": self._value,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": datetime.now(UTC),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    value = "bench-value-" + "x" * 40

    # Ours, with no vault: the local source. The hit path does not depend on
    # the source (it never reaches it), so this is the Key Vault hit path too.
    os.environ["CONTOSO__DB_PASSWORD"] = value
    os.environ["GLOBAL__SMTP_PASSWORD"] = value
    empty = tempfile.mkdtemp()
    store = SecretStore(
        StoreConfig(dotenv_path=None, local_settings_path=os.path.join(empty, "none.json"))
    )
    assert store.get("db-password", org="contoso") == value
    assert store.get("smtp-password", org="contoso") == value
    ours_org = measure(lambda: store.get("db-password", org="contoso"), args.samples, args.batch)
    ours_global = measure(
        lambda: store.get("smtp-password", org="contoso"), args.samples, args.batch
    )

    from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

    aws = SecretCache(config=SecretCacheConfig(), client=StubSecretsManager(value))
    assert aws.get_secret_string("contoso--db-password") == value
    aws_hit = measure(
        lambda: aws.get_secret_string("contoso--db-password"), args.samples, args.batch
    )

    monotonic = time.monotonic
    table = {("db-password", "contoso"): (value, monotonic() + 3600.0)}

    def bare() -> str | None:
        entry = table.get(("db-password", "contoso"))
        if entry is not None and monotonic() < entry[1]:
            return entry[0]
        return None

    floor = measure(bare, args.samples, args.batch)

    print(f"cache hit, ns per call ({args.samples} samples x {args.batch} calls)")
    print(f"{'':44} {'median':>9} {'p99':>9} {'vs floor':>9} {'AWS/ours':>9}")
    rows = [
        ("orgsecrets SecretStore.get (org hit)", ours_org),
        ("orgsecrets SecretStore.get (GLOBAL fallback)", ours_global),
        ("aws-secretsmanager-caching get_secret_string", aws_hit),
        ("dict.get + monotonic() baseline", floor),
    ]
    for label, (median, p99) in rows:
        print(
            f"{label:44} {median:9.1f} {p99:9.1f} {median / floor[0]:8.2f}x "
            f"{aws_hit[0] / median:8.1f}x"
        )
    print(
        f"goal: median hit <= 500 ns -> {ours_org[0]:.0f} ns; "
        f">= 10x faster than AWS -> {aws_hit[0] / ours_org[0]:.1f}x"
    )
    store.close()


if __name__ == "__main__":
    main()
