"""What every client the target builds is given: retries, timeouts, user agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyvault_platform import __version__

USER_AGENT = f"keyvault-platform/{__version__}"


@dataclass(frozen=True)
class RetrySettings:
    """azure-core retry and timeout options, applied to every client.

    azure-core counts total and status retries separately and the smaller
    wins, so both are set. ``Retry-After`` replaces the backoff when sent.
    """

    total: int = 5
    status: int = 5
    backoff_factor: float = 0.8
    backoff_max_s: float = 120.0
    connection_timeout_s: float = 15.0
    read_timeout_s: float = 120.0
    # A token endpoint answers in milliseconds: one that accepts and stays
    # silent should fail the command in seconds, not after the minutes the
    # data-plane and ARM timeouts allow (and retried once, not five times).
    token_connection_timeout_s: float = 3.0
    token_read_timeout_s: float = 3.0
    token_retries: int = 1

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword options of an Azure SDK client."""
        return {
            "retry_total": self.total,
            "retry_status": self.status,
            "retry_backoff_factor": self.backoff_factor,
            "retry_backoff_max": self.backoff_max_s,
            "connection_timeout": self.connection_timeout_s,
            "read_timeout": self.read_timeout_s,
        }
