"""The examples' tests keep the runtime's leak check: no value made by
``make_secret_value`` may reach a log record (the example logs errors)."""

from __future__ import annotations

from ..runtime.conftest import debug_log_capture

__all__ = ["debug_log_capture"]
