"""Resetting thread state in a forked child (gunicorn ``--preload``, multiprocessing).

A forked child inherits every lock and every registered load in flight, but
only the thread that forked: a lock another thread held stays held, and a
load another thread was running is never finished, so a child waiting on
either waits forever. Objects that keep such state register here; after a
fork, in the child, each one's ``_reset_after_fork()`` runs before any other
code. The registry holds them weakly, so registering keeps nothing alive.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["ForkSafe", "register"]


class ForkSafe(Protocol):
    def _reset_after_fork(self) -> None:
        """In the child: replace locks, forget loads in flight and background threads."""


_live: weakref.WeakSet[ForkSafe] = weakref.WeakSet()


def register(obj: ForkSafe) -> None:
    """Reset ``obj`` in every child forked while it is alive."""
    _live.add(obj)


def _reset_all_in_child() -> None:
    for obj in list(_live):
        obj._reset_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_reset_all_in_child)
