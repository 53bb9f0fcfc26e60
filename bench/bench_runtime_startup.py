"""Startup cost of ``orgsecrets``, this checkout against an earlier revision, in one run.

* import: ``python -c "import orgsecrets"`` in a fresh interpreter, minus
  ``python -c pass`` (the interpreter's own start), sampled interleaved:
  every round runs the baseline and each variant once, in a rotating order;
* cold start: a fresh interpreter imports ``orgsecrets`` and makes its first
  ``orgsecrets.get`` against the emulator (run as a child process) as the
  ``app`` managed identity: import, credential, token, challenge, TLS and
  the read, timed inside the child from before the import to the value.

The earlier revision's runtime (default ``main``) is taken with ``git
archive`` into a temporary directory and put first on ``PYTHONPATH``, so
both variants run with the same interpreter and the same azure packages.
Prints medians and differences; never fails on time.

    .venv/bin/python bench/bench_runtime_startup.py [--before main] [--rounds 30] [--cold 10]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from keyvault_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent

COLD_START = """
import time
started = time.perf_counter()
import orgsecrets
value = orgsecrets.get("db-password", org="contoso")
elapsed = time.perf_counter() - started
assert value == "cold-start-value"
print(elapsed)
"""


def runtime_of(revision: str, into: Path) -> Path:
    """``runtime/`` of ``revision`` extracted under ``into``; the directory to put on the path."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "runtime/orgsecrets"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "runtime"


def child_env(path: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORGSECRETS_", "AZURE_"))}
    env["PYTHONPATH"] = str(path) if path is not None else str(ROOT / "runtime")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def wall_s(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=30, help="import samples per variant")
    parser.add_argument("--cold", type=int, default=10, help="cold-start samples per variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        before = runtime_of(args.before, Path(scratch) / "before")
        variants = {f"before ({args.before})": before, "after (this checkout)": ROOT / "runtime"}
        for label, path in variants.items():  # each imports its own copy
            where = subprocess.run(
                [sys.executable, "-c", "import orgsecrets; print(orgsecrets.__file__)"],
                env=child_env(path),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert where.startswith(str(path)), (label, where)
            wall_s("import orgsecrets", child_env(path))  # compile once, outside the timing

        # Import time, interleaved with the bare interpreter.
        samples: dict[str, list[float]] = {"python -c pass": [], **{k: [] for k in variants}}
        runs = [("python -c pass", "pass", None)] + [
            (label, "import orgsecrets", path) for label, path in variants.items()
        ]
        for round_no in range(args.rounds):
            shift = round_no % len(runs)
            for label, code, path in runs[shift:] + runs[:shift]:
                samples[label].append(wall_s(code, child_env(path)))
        baseline = statistics.median(samples["python -c pass"])
        print(f"import orgsecrets, fresh interpreters, median of {args.rounds} interleaved rounds")
        print(f"{'':30} {'wall':>9} {'import':>9}")
        print(f"{'python -c pass (baseline)':30} {baseline * 1000:7.1f} ms {'':>9}")
        for label in variants:
            wall = statistics.median(samples[label])
            print(f"{label:30} {wall * 1000:7.1f} ms {(wall - baseline) * 1000:6.1f} ms")

        # Cold start against the emulator.
        state = Path(scratch) / "emulator"
        config_file = Path(scratch) / "config.yaml"
        config_file.write_text("throttling: {enabled: false}\n")
        child = EmulatorProcess(state, config_path=config_file).start()
        try:
            vault = child.create_vault(
                "bench-cold-start",
                roles={"sync": "Key Vault Secrets Officer", "app": "Key Vault Secrets User"},
            )
            officer = child.secret_client(vault["uri"], "sync")
            officer.set_secret("contoso--db-password", "cold-start-value")
            officer.close()
            app = {
                **child.identity_env("app"),
                "AZURE_KEY_VAULT_URL": vault["uri"],
                "KEYVAULT_EMULATOR_CA": child.info["ca_path"],
                "ORGSECRETS_DOTENV": "",
                "ORGSECRETS_LOCAL_SETTINGS": "",
            }
            cold: dict[str, list[float]] = {k: [] for k in variants}
            walls: dict[str, list[float]] = {k: [] for k in variants}
            labels = list(variants)
            for round_no in range(args.cold):
                shift = round_no % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    started = time.perf_counter()
                    out = subprocess.run(
                        [sys.executable, "-c", COLD_START],
                        env=child_env(variants[label], app),
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    walls[label].append(time.perf_counter() - started)
                    cold[label].append(float(out.strip()))
        finally:
            child.stop()
        print()
        print(
            f"cold start: import + first get on the emulator (as the app identity), "
            f"median of {args.cold} interleaved rounds"
        )
        print(f"{'':30} {'in child':>9} {'wall':>9}")
        for label in variants:
            print(
                f"{label:30} {statistics.median(cold[label]) * 1000:6.1f} ms "
                f"{statistics.median(walls[label]) * 1000:6.1f} ms"
            )
        first, second = (statistics.median(cold[k]) for k in variants)
        print(f"after - before: {(second - first) * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
