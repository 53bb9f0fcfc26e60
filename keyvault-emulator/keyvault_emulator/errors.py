"""Typed errors that carry their wire identity: HTTP status and Azure codes.

Handlers raise these; one place (the dispatcher) turns them into Azure's
error body ``{"error": {"code", "message", "innererror": {"code"}}}``.
"""

from __future__ import annotations


class AzureError(Exception):
    """An error Azure would answer with ``status`` and ``code``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


class BadRequest(AzureError):
    def __init__(self, message: str, *, code: str = "BadParameter", inner: str | None = None):
        super().__init__(400, code, message, inner=inner)


class Unauthorized(AzureError):
    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(401, "Unauthorized", message, headers=headers)


class Forbidden(AzureError):
    def __init__(self, message: str, *, code: str = "Forbidden", inner: str | None = None):
        super().__init__(403, code, message, inner=inner)


class NotFound(AzureError):
    def __init__(self, message: str, *, code: str = "NotFound", inner: str | None = None):
        super().__init__(404, code, message, inner=inner)


class Conflict(AzureError):
    def __init__(self, message: str, *, code: str = "Conflict", inner: str | None = None):
        super().__init__(409, code, message, inner=inner)


class Throttled(AzureError):
    def __init__(self, message: str, *, retry_after_s: int, code: str = "Throttled"):
        super().__init__(429, code, message, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class DropConnection(Exception):
    """Abort the TCP connection without answering (a fault, or a hostile peer)."""
