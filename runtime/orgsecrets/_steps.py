"""Running the pure cores' control flow, once with blocking I/O and once with ``await``.

The sync and asyncio twins share their control flow as *step generators*
(the sans-I/O style): a core method is a generator that yields each request
it needs answered (read this cache entry, probe the vault, resolve this
reference) and receives the answer, a result or the :class:`VaultError` the
request raised, as the value of its ``yield``. It returns its result. The
twins differ only in the loop that answers: :func:`run` calls a blocking
function, :func:`arun` awaits a coroutine function.

A :class:`VaultError` is handed to the core as a value (it decides what to
do with it: fall back, remember, raise); any other exception propagates out
of the loop at once, as it would from straight-line code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .errors import VaultError

__all__ = ["Steps", "arun", "run"]

Request = TypeVar("Request")
Result = TypeVar("Result")

Steps = Generator[Request, Any, Result]
"""A core's control flow: yields requests, receives answers, returns the result."""


def _send(steps: Generator[Request, Any, Result], reply: Any) -> tuple[Any, bool]:
    """``steps``' next request, False; or its result, True."""
    try:
        return steps.send(reply), False
    except StopIteration as done:
        return done.value, True


def _answered(answer: Callable[[Request], Any], request: Request) -> Any:
    try:
        return answer(request)
    except VaultError as error:
        return error


def run(steps: Generator[Request, Any, Result], answer: Callable[[Request], Any]) -> Result:
    """Drive ``steps`` to its result, answering each request with blocking ``answer``."""
    request, finished = _send(steps, None)
    while not finished:
        request, finished = _send(steps, _answered(answer, request))
    return request  # type: ignore[no-any-return]


async def arun(
    steps: Generator[Request, Any, Result], answer: Callable[[Request], Awaitable[Any]]
) -> Result:
    """:func:`run`, awaiting each answer."""
    request, finished = _send(steps, None)
    while not finished:
        try:
            reply = await answer(request)
        except VaultError as error:
            reply = error
        request, finished = _send(steps, reply)
    return request  # type: ignore[no-any-return]
