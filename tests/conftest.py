"""Shared fixtures: one in-process emulator per test worker.

The emulator's CA is made before anything imports aiohttp, and exported as
REQUESTS_CA_BUNDLE and SSL_CERT_FILE, because aiohttp reads SSL_CERT_FILE
only once, at import.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyvault_emulator.tls import ensure_certificates

_STATE = Path(tempfile.mkdtemp(prefix="kv-emulator-tests-"))
_CERTS = ensure_certificates(_STATE / "tls")
os.environ["REQUESTS_CA_BUNDLE"] = str(_CERTS.ca_path)
os.environ["SSL_CERT_FILE"] = str(_CERTS.ca_path)
os.environ["KEYVAULT_EMULATOR_CA"] = str(_CERTS.ca_path)
# Identity variables inherited from a shell acting as an identity would
# make every credential in the suite sign in as that identity.
for _name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_KEY_VAULT_URL"):
    os.environ.pop(_name, None)
# A CI runner forcing colour would put ANSI codes into the text the tests read.
for _name in ("FORCE_COLOR", "CLICOLOR_FORCE"):
    os.environ.pop(_name, None)

from keyvault_emulator.testing import RunningEmulator  # noqa: E402

# The fast tier (`make test-unit`) is every test that needs no emulator:
# pure logic. A test joins the integration tier when it
# uses the emulator fixture (directly or through another fixture) or lives
# where every test starts one. In the unit tier a socket bind or connect
# fails the test (no emulator, in-process or child, can be reached), so the
# split cannot silently rot.
UNIT_TIER = os.environ.get("KVP_TEST_TIER") == "unit"
_INTEGRATION_PLACES = (
    "emulator/",
    "newcomer/",
    "reliability/",
    "runtime/test_integration_emulator.py",
    "runtime/test_no_leaks.py",
    "examples/test_function_app.py",
    "rotation/",
    "runtime/test_wheel_install.py",
    "provision/test_provision_emulator.py",
    "provision/test_provision_dns_registration.py",
    "installs/test_audit.py::test_the_audit_fails_on_a_known_vulnerability_and_passes_once_it_is_accepted",
    "installs/test_audit.py::test_the_audit_fails_on_a_fabricated_advisory_and_passes_once_it_is_accepted",
    "installs/test_locks.py::test_pip_refuses_a_lock_whose_hash_was_changed",
    "tool/test_installed_wheel.py",
    "unit/target/test_emulator_credential.py::test_a_silent_identity_endpoint_times_out_with_a_clear_error",
    "tool/test_scaffold.py::test_a_new_repository_plans_and_applies_on_the_emulator",
    "tool/test_validate.py",
    "test_static_checks.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        place = Path(str(item.path)).relative_to(tests).as_posix()
        place += item.nodeid.partition("::")[1] + item.nodeid.partition("::")[2]
        if "emulator" in getattr(item, "fixturenames", ()) or place.startswith(
            _INTEGRATION_PLACES
        ):
            item.add_marker(pytest.mark.integration)


def _refuse_io_in_the_unit_tier(event: str, args: tuple[object, ...]) -> None:
    if event in ("socket.bind", "socket.connect"):
        raise RuntimeError(
            f"the unit tier does no I/O ({event}); mark the test's place as integration "
            "in tests/conftest.py"
        )


if UNIT_TIER:
    sys.addaudithook(_refuse_io_in_the_unit_tier)


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """The in-process emulator (in-memory state) shared by a worker's tests."""
    running = RunningEmulator(state_dir=_STATE, persist=False)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def vault(emulator: RunningEmulator):
    """A fresh RBAC vault; `sync` is Secrets Officer, `app` is Secrets User."""
    handle = emulator.create_vault()
    emulator.assign_role("sync", "Key Vault Secrets Officer", handle.resource_id)
    emulator.assign_role("app", "Key Vault Secrets User", handle.resource_id)
    return handle


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Give every test back the logging state it started with.

    Commands run in-process (``keyvault_platform.cli.conventions.run`` restores its own changes) and
    libraries may still set levels or add handlers; left behind, that would
    change what later tests in the same worker see, e.g. a leak test that
    expects azure-core's DEBUG records.
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(root_level)
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))


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
