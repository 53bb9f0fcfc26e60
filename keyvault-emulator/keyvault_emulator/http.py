"""A small HTTP/1.1 server on asyncio, TLS only, for the emulator's listeners.

Parsing is h11's (a strict, well-kept HTTP/1.1 state machine); this module
adds keep-alive, body limits, deferred responses (injected latency) and
dropped connections. Each response goes out in one ``write`` with
TCP_NODELAY set, so keep-alive clients never wait for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import h11

from .errors import DropConnection

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    port: int
    raw_target: str


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # injected latency: answer later, without blocking the loop

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json; charset=utf-8"}
        if headers:
            merged.update(headers)
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), merged)


Handler = Callable[[Request], Response]


def internal_error() -> Response:
    """The answer to a bug in the emulator: Azure's 500 shape, no details."""
    return Response.json(
        500, {"error": {"code": "InternalServerError", "message": "Internal emulator error."}}
    )


class InvalidJson(ValueError):
    """A request body that is not a JSON object the emulator can use.

    ``detail`` says what is wrong (for planes that quote it); ``not_object``
    tells a well-formed body of the wrong type apart from malformed JSON.
    Each plane turns this into its own error code and wording.
    """

    def __init__(self, detail: str, *, not_object: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.not_object = not_object


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJson(f"the number {text} is out of range")
    return number


def json_object(body: bytes) -> dict[str, Any]:
    """Parse a request body as one JSON object, the way a strict service would.

    Python's parser accepts ``NaN``, ``Infinity`` and ``-Infinity`` and turns
    ``1e400`` into infinity; JSON (RFC 8259) has none of them, so they are
    refused here rather than crashing a handler later. Nesting too deep for
    the parser is refused too. An empty body is an empty object.
    """
    if not body:
        return {}
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except InvalidJson:
        raise
    except RecursionError:
        raise InvalidJson("the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(str(exc)) from None
    if not isinstance(parsed, dict):
        raise InvalidJson("expected a JSON object", not_object=True)
    return parsed


def parse_target(target: str) -> tuple[str, dict[str, str]]:
    path, _, query = target.partition("?")
    return unquote(path), dict(parse_qsl(query, keep_blank_values=True))


class HttpProtocol(asyncio.Protocol):
    """One connection: parse requests with h11, answer them one at a time."""

    def __init__(self, handler: Handler, port: int, accepted: Counter[int] | None = None) -> None:
        self._handler = handler
        self._port = port
        if accepted is not None:  # connections per port: tests check clients reuse them
            accepted[port] += 1
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._waiting = False
        self._loop = asyncio.get_event_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._conn.receive_data(data)
        except h11.RemoteProtocolError:
            self._abort()
            return
        self._process()

    def eof_received(self) -> bool | None:
        with contextlib.suppress(h11.RemoteProtocolError):
            self._conn.receive_data(b"")
        return None

    def _process(self) -> None:
        while self._transport is not None and not self._waiting:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._send_error(exc.error_status_hint, "BadRequest", "Malformed HTTP request.")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                if event is h11.PAUSED and self._conn.our_state is h11.DONE:
                    self._next_cycle()
                    continue
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body = []
                self._body_size = 0
            elif isinstance(event, h11.Data):
                self._body_size += len(event.data)
                if self._body_size > MAX_BODY_BYTES:
                    self._send_error(413, "RequestEntityTooLarge", "The request body is too large.")
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _dispatch(self) -> None:
        assert self._request is not None
        raw_target = self._request.target.decode("latin-1")
        path, query = parse_target(raw_target)
        request = Request(
            method=self._request.method.decode("ascii").upper(),
            path=path,
            query=query,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in self._request.headers},
            body=b"".join(self._body),
            port=self._port,
            raw_target=raw_target,
        )
        try:
            response = self._handler(request)
        except DropConnection:
            self._abort()
            return
        except Exception:  # a bug must not take the connection's peer down with it
            log.exception("unhandled error for %s %s", request.method, request.path)
            response = internal_error()
        if response.delay_s > 0:
            self._waiting = True
            self._loop.call_later(response.delay_s, self._send_later, response)
        else:
            self._send(response)

    def _send_later(self, response: Response) -> None:
        self._waiting = False
        if self._transport is None:
            return
        self._send(response)
        self._process()

    def _send(self, response: Response) -> None:
        if self._transport is None:
            return
        headers = [(k, v) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        headers.append(("x-ms-keyvault-service-version", "emulator"))
        try:
            data = self._conn.send(h11.Response(status_code=response.status, headers=headers))
            if response.body:
                data += self._conn.send(h11.Data(data=response.body))
            data += self._conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self._abort()
            return
        self._transport.write(data)
        self._next_cycle()

    def _next_cycle(self) -> None:
        if self._conn.our_state is h11.MUST_CLOSE or self._conn.their_state is h11.MUST_CLOSE:
            self._close()
            return
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        elif self._conn.our_state is h11.DONE:
            # The client sent more than we read (e.g. a body after an error); close.
            self._close()

    def _send_error(self, status: int, code: str, message: str) -> None:
        if self._transport is None:
            return
        if self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            try:
                data = self._conn.send(
                    h11.Response(
                        status_code=status,
                        headers=[
                            ("Content-Type", "application/json; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("Connection", "close"),
                        ],
                    )
                )
                data += self._conn.send(h11.Data(data=body)) + self._conn.send(h11.EndOfMessage())
                self._transport.write(data)
            except h11.LocalProtocolError:
                pass
        self._close()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None


def bind_socket(port: int) -> socket.socket:
    """Bind 127.0.0.1:port now, so the port is known before serving starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def serve_socket(
    sock: socket.socket,
    handler: Handler,
    ssl_context: ssl.SSLContext,
    accepted: Counter[int] | None = None,
) -> asyncio.Server:
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpProtocol(handler, port, accepted), sock=sock, ssl=ssl_context, backlog=512
    )
