"""Injected faults for reliability tests: errors, latency, drops, outages.

Each vault (and ARM) has its own seeded random source, so a run is
reproducible. Faults apply before authentication, like a flaky front door.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .errors import AzureError, DropConnection, Throttled


@dataclass(frozen=True)
class FaultPlan:
    error_rate: float = 0.0  # share of requests answered with an error status
    statuses: tuple[int, ...] = (500, 503, 429)
    retry_after_s: int = 1  # sent with injected 429/503
    latency_ms: float = 0.0  # added to every request
    spike_rate: float = 0.0  # share of requests delayed by spike_ms on top
    spike_ms: float = 0.0
    drop_rate: float = 0.0  # share of connections aborted without an answer
    outage: bool = False  # every request fails with 503 (or drops, see outage_drop)
    outage_drop: bool = False
    outage_until: float | None = None  # epoch seconds; None: until cleared
    seed: int = 0
    operations: frozenset[str] = field(default_factory=frozenset)  # empty: all


class FaultInjector:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)

    def decide(self, operation: str) -> float:
        """Raise the fault for this request, or return the latency to add (s)."""
        plan = self.plan
        if plan.operations and operation not in plan.operations:
            return 0.0
        if plan.outage and (plan.outage_until is None or time.time() < plan.outage_until):
            if plan.outage_drop:
                raise DropConnection()
            raise AzureError(
                503, "ServiceUnavailable", "The service is unavailable (injected outage)."
            )
        if plan.drop_rate and self._random.random() < plan.drop_rate:
            raise DropConnection()
        if plan.error_rate and self._random.random() < plan.error_rate:
            status = self._random.choice(plan.statuses)
            if status == 429:
                raise Throttled(
                    "Request was not processed because too many requests were received (injected).",
                    retry_after_s=plan.retry_after_s,
                )
            headers = {"Retry-After": str(plan.retry_after_s)} if status == 503 else {}
            error = AzureError(
                status,
                "ServiceUnavailable" if status == 503 else "InternalServerError",
                f"Injected fault: HTTP {status}.",
                headers=headers,
            )
            raise error
        delay = plan.latency_ms / 1000
        if plan.spike_rate and self._random.random() < plan.spike_rate:
            delay += plan.spike_ms / 1000
        return delay
