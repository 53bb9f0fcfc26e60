"""Pacing requests under Key Vault's service limits, shared by worker threads.

Key Vault throttles per vault and per 10 seconds: 300 secret writes and
4,000 other transactions (Azure documents these as sliding limits; past them
it answers 429 with ``Retry-After``). Sending into a 429 wastes the request,
and the SDK then sleeps the whole ``Retry-After`` (whole seconds), so the
fastest way through 1,000 writes is to never meet a 429: schedule each
request into a sliding window of the same size, with a small margin for the
time a request spends between our clock and the service's.

Which operations count as writes is ambiguous in Azure's documentation (it
names creates; updates, deletes and recovers are not clearly placed), so the
sync is **conservative on purpose**: every mutating call (``set_secret``,
``update_secret_properties``, ``begin_delete_secret``,
``begin_recover_deleted_secret``) is paced in the write budget
(:attr:`Budget.WRITE`), the way the emulator counts them (``is_write`` in
``keyvault-emulator/keyvault_emulator/keyvault/routes.py``); only reads and listings are
:attr:`Budget.OTHER`. At worst a large prune runs at 30 deletes a second when
Azure might have allowed more; it never meets 429s for having guessed the
cheaper budget.

:class:`SlidingWindowPacer` hands out send times: the next slot is now, or,
when the last ``limit`` slots fill the window, ``window_s + margin_s`` after
the oldest of them. Slots are reserved under a lock and slept outside it, so
any number of threads share one schedule. :meth:`SlidingWindowPacer.hold`
pushes every future slot past a ``Retry-After`` a response brought back.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Azure's documented limits for secrets, per vault, per 10 seconds. The sync
#: paces every mutation (not only creates) in the first (see above).
WRITES_PER_WINDOW = 300
OTHERS_PER_WINDOW = 4000
WINDOW_S = 10.0
#: Slack for requests that reach the service later than we scheduled them.
MARGIN_S = 0.3


class SlidingWindowPacer:
    """At most ``limit`` slots in any ``window_s + margin_s`` seconds.

    :param clock: monotonic seconds (injectable for tests).
    :param sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        margin_s: float = MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0 or margin_s < 0:
            raise ValueError("limit must be >= 1, window_s > 0 and margin_s >= 0")
        self.limit = limit
        self.span_s = window_s + margin_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[float] = deque(maxlen=limit)
        self._hold_until = 0.0
        self.waited_s = 0.0  # total time callers spent waiting (for reports)

    def reserve(self) -> float:
        """Reserve the next slot and return its time (may be in the future)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._hold_until)
            if len(self._slots) == self.limit:
                slot = max(slot, self._slots[0] + self.span_s)
            self._slots.append(slot)  # maxlen drops the oldest
            return slot

    def acquire(self) -> None:
        """Wait for a slot."""
        slot = self.reserve()
        delay = slot - self._clock()
        if delay > 0:
            with self._lock:
                self.waited_s += delay
            self._sleep(delay)

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (a ``Retry-After`` came back)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)


class Budget(enum.Enum):
    """Which of Key Vault's limits an operation is paced against.

    Conservative on purpose (see the module docstring): every mutating call
    is a write, though Azure may count some of them as other transactions.
    """

    WRITE = "write"  # every mutation: set, update properties, delete, recover
    OTHER = "other"  # reads only: list (each page), get


@dataclass
class VaultPacer:
    """The two windows of one vault. A write is paced in both (conservative)."""

    writes: SlidingWindowPacer
    others: SlidingWindowPacer

    @classmethod
    def azure_limits(
        cls,
        *,
        writes_per_window: int = WRITES_PER_WINDOW,
        others_per_window: int = OTHERS_PER_WINDOW,
        window_s: float = WINDOW_S,
        margin_s: float = MARGIN_S,
    ) -> VaultPacer:
        return cls(
            SlidingWindowPacer(writes_per_window, window_s, margin_s=margin_s),
            SlidingWindowPacer(others_per_window, window_s, margin_s=margin_s),
        )

    def acquire(self, budget: Budget) -> None:
        if budget is Budget.WRITE:
            self.writes.acquire()
        self.others.acquire()

    def hold(self, seconds: float) -> None:
        self.writes.hold(seconds)
        self.others.hold(seconds)

    @property
    def waited_s(self) -> float:
        return self.writes.waited_s + self.others.waited_s
