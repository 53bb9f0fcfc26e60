"""The sliding-window pacer, on a fake clock."""

from __future__ import annotations

import threading

from keyvault_platform.sync.pacing import Budget, SlidingWindowPacer, VaultPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def pacer(limit: int, clock: FakeClock, margin_s: float = 0.0) -> SlidingWindowPacer:
    return SlidingWindowPacer(limit, 10.0, margin_s=margin_s, clock=clock, sleep=clock.sleep)


def test_burst_then_one_window_later() -> None:
    clock = FakeClock()
    p = pacer(3, clock)
    slots = [p.reserve() for _ in range(7)]
    assert slots == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]


def test_no_window_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    p = pacer(300, clock, margin_s=0.3)
    slots = []
    for i in range(1000):
        p.acquire()
        slots.append(clock.now)
        if i % 7 == 0:
            clock.now += 0.01  # some work between requests
    for i in range(len(slots) - 300):
        assert slots[i + 300] - slots[i] >= 10.0
    # 1,000 writes at 300 per 10 s: three full windows of waiting, no more.
    assert 30.0 <= slots[-1] <= 31.5


def test_hold_pushes_every_future_slot() -> None:
    clock = FakeClock()
    p = pacer(100, clock)
    p.hold(5.0)
    assert p.reserve() == 5.0


def test_writes_count_against_both_windows() -> None:
    clock = FakeClock()
    v = VaultPacer(pacer(2, clock), pacer(3, clock))
    v.acquire(Budget.WRITE)
    v.acquire(Budget.WRITE)
    v.acquire(Budget.OTHER)
    assert clock.now == 0.0
    v.acquire(Budget.OTHER)  # the fourth transaction waits for the window
    assert clock.now == 10.0


def test_threads_share_one_schedule() -> None:
    clock = FakeClock()
    p = pacer(10, clock)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            slot = p.reserve()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(slots) == [0.0] * 10 + [10.0] * 10 + [20.0] * 10 + [30.0] * 10
