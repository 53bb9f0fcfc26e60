"""A loopback webhook that hands Event Grid deliveries to a ``RotationEvents`` handler.

It answers both handshakes with the runtime's helpers (the validation event
through ``handle``, the CloudEvents ``OPTIONS`` through
``webhook_validation_headers``), and keeps what it received for the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orgsecrets.events import InvalidEventError, RotationEvents, webhook_validation_headers


class Webhook:
    def __init__(self, events: RotationEvents | None) -> None:
        self.events = events
        self.deliveries: list[dict[str, Any]] = []  # headers and parsed body of each POST
        self.errors: list[str] = []
        self.answer_status: int | None = None  # set to force a status (fault tests)
        self.received = threading.Condition()
        self.url = ""

    def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> bool:
        with self.received:
            return self.received.wait_for(lambda: predicate(self.deliveries), timeout_s)

    def event_types(self) -> list[str]:
        found = []
        for delivery in self.deliveries:
            body = delivery["body"]
            for event in body if isinstance(body, list) else [body]:
                found.append(event.get("eventType") or event.get("type"))
        return found


def _handler_for(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            headers = webhook_validation_headers(dict(self.headers.items()))
            self._reply(200 if headers else 400, headers=headers)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with hook.received:
                headers = {k.lower(): v for k, v in self.headers.items()}
                hook.deliveries.append({"headers": headers, "body": json.loads(raw)})
                hook.received.notify_all()
            if hook.answer_status is not None:
                self._reply(hook.answer_status)
                return
            if hook.events is None:
                self._reply(200)
                return
            try:
                outcome = hook.events.handle(raw)
            except InvalidEventError as error:
                hook.errors.append(str(error))
                self._reply(400)
                return
            if outcome.validation_response is not None:
                body = json.dumps(outcome.validation_response).encode()
                self._reply(200, body, {"Content-Type": "application/json"})
                return
            self._reply(200)

    return Handler


@contextmanager
def running_webhook(events: RotationEvents | None) -> Iterator[Webhook]:
    hook = Webhook(events)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(hook))
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/api/secret-events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
