"""Warm start: ``prefetch`` of 200 secrets vs 200 sequential cold ``get`` calls.

Runs the emulator as a child process (so its CPU is not the client's), seeds
100 ``contoso--`` and 100 ``GLOBAL--`` secrets plus 100 of another org that
prefetch must skip, then, as the ``app`` identity through the real SDK:

* sequential: a fresh store reads the 200 names one ``get`` after another;
* prefetch: a fresh store calls ``prefetch("contoso")`` (one listing, then
  the values with bounded concurrency), sync and asyncio.

A real vault is a network round trip away; the emulator on loopback is not,
so each configuration runs with added per-request latency (``--latency-ms``,
default 0, 10 and 25 ms). Prints figures and ratios; never fails on time.

    .venv/bin/python bench/bench_runtime_prefetch.py [--latency-ms 0 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from keyvault_emulator.testing import EmulatorProcess, IdentityBoundCredential


def seed(child: EmulatorProcess) -> dict[str, Any]:
    vault = child.create_vault(
        "bench-prefetch",
        roles={"sync": "Key Vault Secrets Officer", "app": "Key Vault Secrets User"},
    )
    officer = child.secret_client(vault["uri"], "sync")
    for i in range(100):
        officer.set_secret(f"contoso--s{i:03d}", f"org-{i}")
        officer.set_secret(f"GLOBAL--g{i:03d}", f"global-{i}")
        officer.set_secret(f"fabrikam--s{i:03d}", f"other-{i}")
    officer.close()
    return vault


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 10.0, 25.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state:
        config_file = Path(state) / "config.yaml"
        config_file.write_text("throttling: {enabled: false}\n")
        child = EmulatorProcess(Path(state) / "emulator", config_path=config_file).start()
        try:
            vault = seed(child)
            app_env = child.identity_env("app")
            os.environ["KEYVAULT_EMULATOR_CA"] = child.info["ca_path"]
            # The async credential reads the identity variables when built.
            os.environ.update(app_env)
            from orgsecrets import (
                AsyncSecretStore,
                CacheConfig,
                EmulatorSettings,
                SecretStore,
                StoreConfig,
            )

            config = StoreConfig(
                vault_url=vault["uri"],
                emulator=EmulatorSettings(ca_path=child.info["ca_path"]),
                cache=CacheConfig(prefetch_concurrency=args.concurrency),
                dotenv_path=None,
                local_settings_path=None,
            )
            names = [(f"s{i:03d}", "contoso") for i in range(100)]
            names += [(f"g{i:03d}", None) for i in range(100)]

            def fresh_store() -> SecretStore:
                store = SecretStore(config, credential=IdentityBoundCredential(app_env))
                store.health()  # token and challenge outside the timing, for both
                return store

            def sequential() -> float:
                store = fresh_store()
                start = time.perf_counter()
                for name, org in names:
                    store.get(name, org=org)
                elapsed = time.perf_counter() - start
                store.close()
                return elapsed

            def prefetch() -> float:
                store = fresh_store()
                start = time.perf_counter()
                result = store.prefetch("contoso")
                elapsed = time.perf_counter() - start
                assert len(result.loaded) == 200 and not result.failed, result
                # Everything is now a cache hit.
                for name, org in names:
                    store.get(name, org=org)
                store.close()
                return elapsed

            def aprefetch() -> float:
                async def run() -> float:
                    async with AsyncSecretStore(config) as store:
                        await store.health()
                        start = time.perf_counter()
                        result = await store.prefetch("contoso")
                        elapsed = time.perf_counter() - start
                        assert len(result.loaded) == 200 and not result.failed, result
                        return elapsed

                return asyncio.run(run())

            print(
                f"200 secrets (100 contoso + 100 GLOBAL; 100 of another org skipped), "
                f"prefetch concurrency {args.concurrency}, median of {args.repeat} runs"
            )
            print(
                f"{'added latency':>14} {'sequential':>11} {'prefetch':>10} {'aio prefetch':>13} "
                f"{'speed-up':>9} {'aio':>6}"
            )
            for latency in args.latency_ms:
                child.admin(
                    "POST",
                    "faults",
                    {"vault": vault["name"], "plan": {"latency_ms": latency} if latency else None},
                )
                seq = statistics.median(sequential() for _ in range(args.repeat))
                pre = statistics.median(prefetch() for _ in range(args.repeat))
                apre = statistics.median(aprefetch() for _ in range(args.repeat))
                print(
                    f"{latency:11.0f} ms {seq * 1000:8.0f} ms {pre * 1000:7.0f} ms "
                    f"{apre * 1000:10.0f} ms {seq / pre:8.1f}x {seq / apre:5.1f}x"
                )
            print("goal: prefetch >= 5x faster than sequential gets")
        finally:
            child.stop()


if __name__ == "__main__":
    main()
