"""The emulator's clock: wall-clock time plus an offset that only moves forward.

Everything Azure decides by the date reads this clock: secret ``created`` /
``updated`` and the ``nbf`` / ``exp`` a client compares with, soft-deleted
secrets' and vaults' scheduled purge dates, role assignments taking effect,
principals replicating, and token issue and expiry. Advancing it (admin API
``POST /_emulator/clock``, ``keyvault-emulator clock advance 30d``, the
pytest plugin's ``advance_clock``) lets a test see a 90-day retention end
without waiting. It never goes back: a purge that happened stays happened,
and a token minted "later" never predates one minted before.

Not on this clock, on purpose: request-rate windows (throttling counts real
requests per real second) and the audit log's timestamps (when a request
really arrived).
"""

from __future__ import annotations

import re
import threading
import time

from .persistence import Store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a bare number of seconds.

    :raises ValueError: not such a duration, or not greater than zero.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a number with s, m, h, d or w (for example 30d)"
        )
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: the clock only moves forward; give a duration above zero")
    return seconds


class Clock:
    """``now()`` is ``time.time()`` plus the offset moved so far (epoch seconds)."""

    KIND = "clock"
    KEY = "offset"

    def __init__(self, offset_s: float = 0.0, *, store: Store | None = None) -> None:
        self._offset_s = float(offset_s)
        self._store = store
        self._lock = threading.Lock()

    @classmethod
    def restored(cls, store: Store) -> Clock:
        """The clock as a previous run on this state left it (offset 0 if never moved)."""
        saved = 0.0
        for _key, data in store.load(cls.KIND):
            saved = float(data["offset_s"])
        return cls(saved, store=store)

    @property
    def offset_s(self) -> float:
        return self._offset_s

    def now(self) -> float:
        return time.time() + self._offset_s

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (> 0); returns the new ``now()``."""
        if not seconds > 0:
            raise ValueError("the clock only moves forward; give a duration above zero")
        with self._lock:
            self._offset_s += seconds
            if self._store is not None:
                self._store.put(self.KIND, self.KEY, {"offset_s": self._offset_s})
        return self.now()
