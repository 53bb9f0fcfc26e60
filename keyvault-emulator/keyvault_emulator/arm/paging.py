"""Resource Manager list pages: ``{"value": [...], "nextLink": ...}``.

ARM pages every list; the SDK pagers follow ``nextLink`` (an absolute URL
on the same host, with an opaque ``$skiptoken``). Serving real pages, with
a page size the configuration can shrink, is what lets tests prove that
callers read past the first page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from ..errors import BadRequest
from ..http import Request, Response

T = TypeVar("T")
MAX_TOP = 1000


def top_of(request: Request) -> int | None:
    raw = request.query.get("$top")
    if raw in (None, ""):
        return None
    try:
        top = int(raw)
    except ValueError:
        top = 0
    if not 1 <= top <= MAX_TOP:
        raise BadRequest(
            f"The value '{raw}' of query parameter '$top' is invalid; it must be between 1 and "
            f"{MAX_TOP}.",
            code="InvalidTopParameter",  # guessed wording
        )
    return top


def _offset(request: Request) -> int:
    token = request.query.get("$skiptoken")
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except ValueError:
        offset = -1
    if offset < 0:
        raise BadRequest("The $skiptoken is invalid.", code="InvalidSkipToken")  # guessed
    return offset


def paged(
    request: Request,
    items: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    page_size: int,
) -> Response:
    """One page of ``items`` from the request's ``$skiptoken``; ``$top`` caps the page."""
    size = min(top_of(request) or page_size, page_size)
    offset = _offset(request)
    page = items[offset : offset + size]
    body: dict[str, Any] = {"value": [render(item) for item in page]}
    if offset + size < len(items):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode().rstrip("=")
        query["$skiptoken"] = token
        host = request.headers.get("host", "127.0.0.1")
        body["nextLink"] = f"https://{host}{request.path}?{urlencode(query)}"
    return Response.json(200, body)
