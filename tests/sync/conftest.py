"""Fixtures for the secret-sync tests: manifests written to a temporary directory."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.pacing import Budget, VaultPacer

#: A value no message, plan or log line may ever contain.
CANARY = "s3cr3t-CANARY-value-7d1f"

TEST_KEY = "test-fingerprint-key-0123456789abcdefghijklmnop"


@pytest.fixture
def keyring() -> fp.Keyring:
    return fp.Keyring(fp.FingerprintKey.from_text(TEST_KEY))


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` (dedented) as ``tmp_path/manifests/<name>``; returns the directory."""
    directory = tmp_path / "manifests"
    directory.mkdir()

    def write(name: str, text: str) -> Path:
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return directory

    return write


class BeforeFirstWrite(VaultPacer):
    """The real pacer (limits out of the way), which runs ``act`` once, just before the
    first write goes out: someone else's edit, landing while that write waits its turn."""

    def __init__(self, act: Callable[[], object]) -> None:
        limits = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
        super().__init__(limits.writes, limits.others)
        self._act = act
        self.done = threading.Event()

    def acquire(self, budget: Budget) -> None:
        if budget is Budget.WRITE and not self.done.is_set():
            self.done.set()
            self._act()
        super().acquire(budget)
