"""The emulator credential fails, rather than hangs, on an identity endpoint that never answers."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from keyvault_platform.target.credentials import EmulatorIdentityCredential
from keyvault_platform.target.settings import RetrySettings

# How long the test waits for the credential before calling it hung; far more
# than the 1 s timeouts below, so it is a guard, not a measurement.
HANG_GUARD_S = 60


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback listener that accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)  # kept open, never read from or written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/msi/token"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_silent_identity_endpoint_times_out_with_a_clear_error(silent_endpoint: str) -> None:
    retry = RetrySettings(total=0, status=0, connection_timeout_s=1, read_timeout_s=1)
    credential = EmulatorIdentityCredential(
        endpoint=silent_endpoint,
        header="header-secret",
        ca_path="unused-for-http.pem",
        name="deployer",
        retry=retry,
    )
    outcome: queue.Queue[BaseException | object] = queue.Queue()

    def sign_in() -> None:
        try:
            outcome.put(credential.get_token("https://management.azure.com/.default"))
        except BaseException as exc:  # handed to the test thread
            outcome.put(exc)

    threading.Thread(target=sign_in, daemon=True).start()
    try:
        result = outcome.get(timeout=HANG_GUARD_S)
    except queue.Empty:
        pytest.fail(f"get_token was still waiting after {HANG_GUARD_S} s: no read timeout")
    finally:
        credential.close()
    assert isinstance(result, ServiceResponseError | ServiceRequestError), repr(result)
    message = str(result)
    assert f"the emulator identity endpoint {silent_endpoint} did not answer" in message
    assert "identity 'deployer'" in message
    assert "header-secret" not in message
