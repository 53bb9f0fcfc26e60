"""The vault clients' retry policies: azure-core's, except for a host that does not exist.

azure-core retries a failed connection like any other (five retries with
backoff: about 24 s before the first error). A vault host name that does
not resolve (``socket.gaierror`` "name or service not known" under
azure-core's ``ServiceRequestError``) is a typo or a deleted vault, not an
outage: it is raised at once. A temporary resolver failure (``EAI_AGAIN``)
is retried as before.
"""

from __future__ import annotations

import socket
from typing import Any

from azure.core.pipeline.policies import AsyncRetryPolicy, RetryPolicy

__all__ = ["AsyncFailFastRetryPolicy", "FailFastRetryPolicy", "is_unknown_host"]

_UNKNOWN_HOST_CODES = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)
_MAX_LINKS = 32


def is_unknown_host(error: BaseException) -> bool:
    """True if ``error`` (or anything it wraps) says a host name does not resolve.

    Follows ``__cause__``, ``__context__``, azure-core's ``inner_exception``,
    urllib3's ``reason``, aiohttp's ``os_error`` and exception arguments,
    a bounded number of links.
    """
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo and len(seen) < _MAX_LINKS:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror) and current.errno in _UNKNOWN_HOST_CODES:
            return True
        for attribute in ("__cause__", "__context__", "inner_exception", "reason", "os_error"):
            todo.append(getattr(current, attribute, None))
        todo.extend(current.args)
    return False


class _FailFastOnUnknownHost:
    """Mixed into azure-core's policies: no retry when the host does not resolve."""

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        if error is not None and is_unknown_host(error):
            return False
        return super().increment(settings, response=response, error=error)  # type: ignore[misc,no-any-return]


class FailFastRetryPolicy(_FailFastOnUnknownHost, RetryPolicy[Any, Any]):
    """azure-core's ``RetryPolicy``, failing at once on a host that does not resolve."""


class AsyncFailFastRetryPolicy(_FailFastOnUnknownHost, AsyncRetryPolicy[Any, Any]):
    """azure-core's ``AsyncRetryPolicy``, failing at once on a host that does not resolve."""
