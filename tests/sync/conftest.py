"""Fixtures for the secret-sync tests: manifests written to a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from keyvault_platform.sync import fingerprint as fp

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
