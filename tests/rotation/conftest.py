"""The rotation tests span the tool (the sync engine), the emulator and the runtime,
so they live apart from tests/runtime (which `make test-runtime` runs without the
tool installed). They keep the runtime's leak check and secret values."""

from __future__ import annotations

from ..runtime.conftest import debug_log_capture, secret_value

__all__ = ["debug_log_capture", "secret_value"]
