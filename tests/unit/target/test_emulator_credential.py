"""The emulator credential fails, rather than hangs, on an identity endpoint that never answers."""

from __future__ import annotations

import queue
import threading

import pytest
from azure.core.exceptions import ClientAuthenticationError
from keyvault_platform.target.credentials import EmulatorIdentityCredential
from keyvault_platform.target.settings import RetrySettings

# How long the test waits for the credential before calling it hung; far more
# than the 1 s timeouts below, so it is a guard, not a measurement.
HANG_GUARD_S = 60


def test_a_silent_identity_endpoint_times_out_with_a_clear_error(silent_endpoint: str) -> None:
    retry = RetrySettings(token_retries=0, token_connection_timeout_s=1, token_read_timeout_s=1)
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
    assert isinstance(result, ClientAuthenticationError), repr(result)
    message = str(result)
    assert f"the emulator identity endpoint {silent_endpoint} did not answer" in message
    assert "identity 'deployer'" in message
    assert "header-secret" not in message
