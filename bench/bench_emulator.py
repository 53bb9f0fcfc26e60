"""How fast is the emulator? Prints figures; never passes or fails on time.

1. Capacity: authenticated secret gets per second (throttling off), driven by
   ``wrk`` when installed (a C load generator, light enough not to be the
   bottleneck), otherwise by several Python processes on raw keep-alive TLS.
2. Latency through the real SDK at 400 requests/s offered (a real vault's
   limit): an open-loop schedule, each latency measured from its scheduled
   start, so a slow answer cannot hide the ones queued behind it.

Goals (issue 2): >= 2,000 gets/s on 2 cores; p50 < 2 ms at 400/s.
Usage: python bench/bench_emulator.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import re
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from keyvault_emulator.testing import EmulatorProcess


def _python_load(args: tuple[str, int, str, str, float]) -> int:
    host_port, _, path, token, seconds = args[0], 0, args[2], args[3], args[4]
    host, port = host_port.split(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(host, int(port), context=context)
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"unexpected status {response.status}")
        done += 1
    return done


def capacity(uri: str, token: str, seconds: float) -> tuple[float, str]:
    url = f"{uri}secrets/bench-secret?api-version=2026-04-01"
    if shutil.which("wrk"):
        output = subprocess.run(
            [
                "wrk",
                "-t2",
                "-c16",
                f"-d{int(seconds)}s",
                "-H",
                f"Authorization: Bearer {token}",
                "--latency",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if non_2xx:
            raise RuntimeError(f"wrk saw {non_2xx.group(1)} error responses")
        return rate, "wrk -t2 -c16"
    host_port = uri.split("//", 1)[1].strip("/")
    path = url.split(host_port, 1)[1]
    workers = 4
    with multiprocessing.Pool(workers) as pool:
        started = time.monotonic()
        counts = pool.map(_python_load, [(host_port, 0, path, token, seconds)] * workers)
        elapsed = time.monotonic() - started
    return sum(counts) / elapsed, f"{workers} Python processes (raw keep-alive TLS)"


def paced(call, rate: float, seconds: float) -> tuple[list[float], float]:
    """Call at ``rate``/s on an open-loop schedule; latencies in ms from schedule."""
    interval = 1.0 / rate
    total = int(rate * seconds)
    latencies = []
    started = time.perf_counter()
    for i in range(total):
        scheduled = started + i * interval
        now = time.perf_counter()
        if now < scheduled:
            time.sleep(scheduled - now)
        call()
        latencies.append((time.perf_counter() - scheduled) * 1000)
    achieved = total / (time.perf_counter() - started)
    latencies.sort()
    return latencies, achieved


def raw_get(uri: str, token: str, ca_path: str):
    """A bare keep-alive HTTPS GET: the emulator's own share of a round trip."""
    host, port = uri.split("//", 1)[1].strip("/").split(":")
    connection = http.client.HTTPSConnection(
        host, int(port), context=ssl.create_default_context(cafile=ca_path)
    )
    headers = {"Authorization": f"Bearer {token}"}

    def call() -> None:
        connection.request("GET", "/secrets/bench-secret?api-version=2026-04-01", headers=headers)
        connection.getresponse().read()

    return call


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        config = Path(state) / "config.yaml"
        config.write_text("throttling: {enabled: false}\n")
        child = EmulatorProcess(Path(state) / "emulator", config_path=config).start()
        try:
            vault = child.create_vault("bench-kv", roles={"app": "Key Vault Secrets Officer"})
            client = child.secret_client(vault["uri"], "app")
            client.set_secret("bench-secret", "x" * 64)
            token = child.admin(
                "POST", "tokens", {"identity": "app", "resource": "https://vault.azure.net"}
            )["access_token"]
            for _ in range(200):  # warm up connections and token cache
                client.get_secret("bench-secret")
            sdk, sdk_rate = paced(lambda: client.get_secret("bench-secret"), 400, args.seconds)
            raw, raw_rate = paced(
                raw_get(vault["uri"], token, child.info["ca_path"]), 400, args.seconds
            )
            rate, driver = capacity(vault["uri"], token, args.seconds)
        finally:
            child.stop()
    print("Emulator benchmark (authenticated GET secret, throttling off, 2-core machine)")
    print(
        f"  capacity:              {rate:8.0f} gets/s   driven by {driver}"
        f"   goal >= 2000: {rate / 2000:.2f}x the goal"
    )
    for label, values, achieved in (
        ("SDK SecretClient", sdk, sdk_rate),
        ("bare HTTPS client", raw, raw_rate),
    ):
        print(
            f"  {label:18} at 400/s offered: achieved {achieved:4.0f}/s  "
            f"p50 {statistics.median(values):5.2f} ms  p99 {percentile(values, 0.99):6.2f} ms"
        )
    print("  goal: p50 < 2 ms through the SDK; the bare client shows the emulator's own share")


if __name__ == "__main__":
    main()
