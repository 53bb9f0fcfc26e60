"""A small HTTP/1.1 server on asyncio, TLS only, for the emulator's listeners.

Parsing is h11's (a strict, well-kept HTTP/1.1 state machine); this module
adds keep-alive, body limits, deferred responses (injected latency, and
waiting for the state store to commit), dropped connections, and the limits
that keep slow or idle clients from starving others (``ConnectionLimits``).
Each response goes out in one ``write`` with TCP_NODELAY set, so keep-alive
clients never wait for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import resource
import socket
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import h11

from .errors import DropConnection
from .escaping import printable

log = logging.getLogger(__name__)
request_log = logging.getLogger("keyvault_emulator.requests")

MAX_BODY_BYTES = 2 * 1024 * 1024
# How long the rest of a refused (too large) body is read and dropped after
# the 413: closing at once resets a client still sending, which then never
# reads the answer.
REFUSED_BODY_LINGER_S = 2.0
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
    principal: str = ""  # who asked, for the request log only (never sent)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json; charset=utf-8"}
        if headers:
            merged.update(headers)
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), merged)


Handler = Callable[[Request], Response]
# What an answer must wait for before it is sent (the state store's commit).
Barrier = Callable[[], "concurrent.futures.Future[None] | None"]


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


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take, and how many connections the process holds.

    The TLS handshake and a request's headers must each arrive within
    ``header_timeout_s``, its body within ``body_timeout_s`` of the headers,
    and a keep-alive connection may sit idle ``idle_timeout_s`` between
    requests. At ``max_connections`` (counted over every listener, so the
    process keeps file descriptors for new clients) a new connection closes
    the one idle longest; only connections waiting for their answer are kept.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 120.0
    max_connections: int = 1_000


def _descriptor_room() -> int:
    """Connections the process's open-file limit leaves room for (with a margin)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(16, soft // 2 - 64)


class Connections:
    """Every open connection of the process, oldest activity first; enforces the limits."""

    SWEEP_S = 0.5

    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.limits = limits or ConnectionLimits()
        self.cap = min(self.limits.max_connections, _descriptor_room())
        self._open: OrderedDict[HttpProtocol, None] = OrderedDict()
        self._sweeper: asyncio.TimerHandle | None = None
        self.evicted = 0
        self.timed_out = 0

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, connection: HttpProtocol) -> bool:
        """Take a new connection; at the cap, close the longest idle one (False: none is)."""
        if len(self._open) >= self.cap:
            victim = next((c for c in self._open if not c.busy), None)
            if victim is None:
                return False
            self.evicted += 1
            victim.expire()
        self._open[connection] = None
        if self._sweeper is None:
            self._schedule()
        return True

    def touch(self, connection: HttpProtocol) -> None:
        if connection in self._open:
            self._open.move_to_end(connection)

    def forget(self, connection: HttpProtocol) -> None:
        self._open.pop(connection, None)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(self.SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        for connection in [c for c in self._open if c.deadline <= now]:
            self.timed_out += 1
            connection.expire()
        if self._open:
            self._schedule()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


class _Phase:
    HANDSHAKE = "handshake"
    IDLE = "idle"
    HEADERS = "headers"
    BODY = "body"
    ANSWERING = "answering"


class HttpProtocol(asyncio.Protocol):
    """One connection: TLS, then requests parsed with h11, answered one at a time."""

    def __init__(
        self,
        handler: Handler,
        port: int,
        ssl_context: ssl.SSLContext,
        connections: Connections,
        *,
        accepted: Counter[int] | None = None,
        barrier: Barrier | None = None,
    ) -> None:
        self._handler = handler
        self._port = port
        self._ssl_context = ssl_context
        self._connections = connections
        self._limits = connections.limits
        self._barrier = barrier
        if accepted is not None:  # connections per port: tests check clients reuse them
            accepted[port] += 1
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._plain: asyncio.Transport | None = None
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._waiting = False
        self._closed = False
        self._draining = False  # answered 413: what still arrives is dropped
        self._phase = _Phase.HANDSHAKE
        self._started = 0.0
        self.deadline = math.inf
        self._loop = asyncio.get_event_loop()

    @property
    def busy(self) -> bool:
        """Waiting for its answer: never closed to make room."""
        return self._phase == _Phase.ANSWERING

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._plain = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._connections.admit(self):
            self._closed = True
            transport.abort()
            return
        # TLS is started here rather than by the server, so a connection is
        # counted and timed from its first moment, handshake included.
        transport.pause_reading()
        self.deadline = time.monotonic() + self._limits.header_timeout_s
        self._loop.create_task(self._start_tls(transport))

    async def _start_tls(self, plain: asyncio.Transport) -> None:
        if self._closed:
            return
        try:
            transport = await self._loop.start_tls(
                plain,
                self,
                self._ssl_context,
                server_side=True,
                ssl_handshake_timeout=self._limits.header_timeout_s,
            )
        except (OSError, ssl.SSLError, ConnectionError, RuntimeError):  # TimeoutError is an OSError
            self._forget()
            plain.abort()
            return
        if self._closed or transport is None:
            if transport is not None:
                transport.abort()
            return
        self._transport = transport
        if self._phase == _Phase.HANDSHAKE:
            self._idle()
        self._process()  # what arrived before ``start_tls`` returned is parsed but unanswered

    def _idle(self) -> None:
        self._phase = _Phase.IDLE
        self.deadline = time.monotonic() + self._limits.idle_timeout_s

    def expire(self) -> None:
        """Close: too slow, idle too long, or making room for a new client."""
        if self._transport is not None:
            self._abort()
        else:  # still shaking hands
            self._forget()
            if self._plain is not None:
                self._plain.abort()

    def _forget(self) -> None:
        self._closed = True
        self._connections.forget(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._forget()

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of a refused body
        if self._phase in (_Phase.IDLE, _Phase.HANDSHAKE):
            self._phase = _Phase.HEADERS
            self.deadline = time.monotonic() + self._limits.header_timeout_s
        self._connections.touch(self)
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
                self._phase = _Phase.BODY
                self.deadline = time.monotonic() + self._limits.body_timeout_s
            elif isinstance(event, h11.Data):
                self._body_size += len(event.data)
                if self._body_size > MAX_BODY_BYTES:
                    self._send_error(
                        413, "RequestEntityTooLarge", "The request body is too large.", close=False
                    )
                    # Closed by the sweeper at the deadline, or by the client once
                    # it has read the answer.
                    self._draining = True
                    self._body = []
                    self.deadline = time.monotonic() + REFUSED_BODY_LINGER_S
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _dispatch(self) -> None:
        assert self._request is not None
        self._phase = _Phase.ANSWERING
        self.deadline = math.inf
        self._started = time.perf_counter()
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
            self._log(request, None)
            self._abort()
            return
        except Exception:  # a bug must not take the connection's peer down with it
            log.exception(
                "unhandled error for %s %s", printable(request.method), printable(request.path)
            )
            response = internal_error()
        # Every write queued before this answer must be committed before it is sent.
        committed = self._barrier() if self._barrier is not None else None
        if committed is not None:
            self._waiting = True
            asyncio.wrap_future(committed, loop=self._loop).add_done_callback(
                lambda done: self._after_commit(done, request, response)
            )
        elif response.delay_s > 0:
            self._waiting = True
            self._loop.call_later(response.delay_s, self._send_later, request, response)
        else:
            self._send(request, response)

    def _after_commit(
        self, done: asyncio.Future[None], request: Request, response: Response
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            response = internal_error()  # not durable: never acknowledge it
        if response.delay_s > 0:
            self._loop.call_later(response.delay_s, self._send_later, request, response)
        else:
            self._send_later(request, response)

    def _send_later(self, request: Request, response: Response) -> None:
        self._waiting = False
        if self._transport is None:
            return
        self._send(request, response)
        self._process()

    def _log(self, request: Request, response: Response | None) -> None:
        if not request_log.isEnabledFor(logging.DEBUG):
            return
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        request_log.debug(
            "%s %s %s %s %.1fms",
            printable(request.method),
            printable(request.path),
            response.status if response is not None else "dropped",
            printable(response.principal) if response is not None and response.principal else "-",
            elapsed_ms,
        )

    def _send(self, request: Request, response: Response) -> None:
        if self._transport is None:
            return
        self._log(request, response)
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
        self._idle()
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

    def _send_error(self, status: int, code: str, message: str, *, close: bool = True) -> None:
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
        if close:
            self._close()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._forget()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        self._forget()


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
    connections: Connections,
    *,
    accepted: Counter[int] | None = None,
    barrier: Barrier | None = None,
) -> asyncio.Server:
    """Serve HTTPS on ``sock``; TLS is each connection's own first step (see HttpProtocol)."""
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpProtocol(
            handler, port, ssl_context, connections, accepted=accepted, barrier=barrier
        ),
        sock=sock,
        backlog=512,
    )
