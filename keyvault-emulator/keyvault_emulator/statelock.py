"""One emulator per state directory: an exclusive lock held while it runs.

Two emulators on one state directory each keep the state in memory and write
their own view through to SQLite, so one overwrites what the other has
acknowledged (a secret's version list, say). ``{state_dir}/lock`` is locked
with ``flock`` for as long as the emulator runs; the kernel drops the lock
when the process ends, however it ends, so a killed emulator never leaves a
stale lock behind. The file holds the owner's pid, for the error a second
emulator gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from .discovery import Discovery

FILE_NAME = "lock"


class StateDirectoryInUse(RuntimeError):
    """Another emulator serves this state directory."""

    def __init__(self, state_dir: Path, pid: int | None) -> None:
        owner = f"pid {pid}" if pid is not None else "a process whose pid is not recorded"
        super().__init__(
            f"another emulator ({owner}) already uses the state directory {state_dir}; "
            "stop it first, or give this one another --state-dir"
        )
        self.state_dir = state_dir
        self.pid = pid


class StateLock:
    """The exclusive lock on a state directory; :meth:`release` (or process exit) frees it."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self._handle: IO[str] | None = handle
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path) -> StateLock:
        """Lock ``state_dir`` or raise :class:`StateDirectoryInUse` naming the owner's pid."""
        path = Path(state_dir) / FILE_NAME
        # No O_TRUNC: the file may hold the owner's pid, which a refused start reads.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _recorded_pid(handle, Path(state_dir))
            handle.close()
            raise StateDirectoryInUse(Path(state_dir), pid) from None
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(handle, path)

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        """Unlock (idempotent). The pid stays in the file; only the lock says who runs."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def _recorded_pid(handle: IO[str], state_dir: Path) -> int | None:
    """The owner's pid: from the lock file, else (written just after) the discovery file."""
    handle.seek(0)
    text = handle.read().strip()
    if text.isdigit():
        return int(text)
    try:
        return Discovery.read(state_dir).pid
    except (FileNotFoundError, ValueError):
        return None
