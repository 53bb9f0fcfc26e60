"""Sliding-window request limits, answering 429 with Retry-After like Azure."""

from __future__ import annotations

import math
import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` events in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: deque[float] = deque()

    def try_acquire(self, now: float | None = None) -> float:
        """Count one event and return 0, or return the seconds to wait."""
        now = time.monotonic() if now is None else now
        horizon = now - self.window_s
        events = self._events
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] - horizon
        events.append(now)
        return 0.0


def retry_after_seconds(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))
