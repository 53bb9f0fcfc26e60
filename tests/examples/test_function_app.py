"""The Functions example (examples/function_app/function_app.py) against the emulator.

Its handlers are called as the Functions host calls them: with real
``func.HttpRequest`` and ``func.EventGridEvent`` objects from the installed
``azure-functions``, the app settings in the environment (the vault URL and
the ``app`` managed identity's endpoint), and the process-wide store the
example uses. The webhook is also served over loopback HTTP, so the
emulator's Event Grid delivers to it exactly as Azure would.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import orgsecrets
import pytest
from orgsecrets.events import RotationEvents

from ..runtime.conftest import make_secret_value
from ..runtime.events_webhook import running_webhook

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "function_app" / "function_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("function_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(emulator: Any, vault: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module, with app settings for ``vault`` as its managed identity ``app``."""
    emulator.set_throttling(vault.name, enabled=False)
    settings = {
        **emulator.identity_env("app"),
        "AZURE_KEY_VAULT_URL": vault.uri,
        "ORGSECRETS_TTL_S": "3600",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    orgsecrets.reset_default_stores()
    try:
        yield load_example()
    finally:
        orgsecrets.reset_default_stores()


@pytest.fixture
def seed(emulator: Any, vault: Any) -> Iterator[Callable[[str, str], Any]]:
    client = emulator.secret_client(vault, "sync")
    yield client.set_secret
    client.close()


def get(route: str, **route_params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET", f"http://localhost:7071/api/{route}", route_params=route_params, body=b""
    )


def test_the_app_indexes_its_four_functions(example: ModuleType) -> None:
    triggers = {
        f.get_function_name(): f.get_trigger().get_binding_name()
        for f in example.app.get_functions()
    }
    assert triggers == {
        "orders": "httpTrigger",
        "health": "httpTrigger",
        "on_secret_event": "eventGridTrigger",
        "secret_events": "httpTrigger",
    }


def test_orders_reads_the_org_secret_then_the_global_one(
    example: ModuleType, seed: Callable[[str, str], Any]
) -> None:
    seed("contoso--db-password", make_secret_value("contoso"))
    response = example.orders(get("orders/contoso", org="contoso"))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"org": "contoso", "connected": True}

    missing = example.orders(get("orders/fabrikam", org="fabrikam"))
    assert (missing.status_code, missing.get_body()) == (500, b"not configured")

    seed("GLOBAL--db-password", make_secret_value("global"))
    orgsecrets.default_store().invalidate("db-password", org="fabrikam")
    fallback = example.orders(get("orders/fabrikam", org="fabrikam"))
    assert fallback.status_code == 200

    refused = example.orders(get("orders/GLOBAL", org="GLOBAL"))
    assert refused.status_code == 400
    assert b"reserved" in refused.get_body()


def test_health_reports_the_vault_ok(example: ModuleType) -> None:
    response = example.health(get("health"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    report = json.loads(response.get_body())
    assert report["ok"] is True


def test_the_webhook_answers_both_handshakes(example: ModuleType, vault: Any) -> None:
    options = func.HttpRequest(
        "OPTIONS",
        "http://localhost:7071/api/secret-events",
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
        body=b"",
    )
    answer = example.secret_events(options)
    assert answer.status_code == 200
    assert answer.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    stranger = func.HttpRequest("OPTIONS", "http://localhost:7071/api/secret-events", body=b"")
    assert example.secret_events(stranger).status_code == 400

    validation = [
        {
            "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
            "topic": vault.resource_id,
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-01-01T00:00:00Z",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "dataVersion": "2",
        }
    ]
    post = func.HttpRequest(
        "POST",
        "http://localhost:7071/api/secret-events",
        headers={"aeg-event-type": "SubscriptionValidation"},
        body=json.dumps(validation).encode(),
    )
    response = example.secret_events(post)
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {
        "validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    }


def test_the_webhook_refuses_a_bad_delivery_with_a_located_400(example: ModuleType) -> None:
    post = func.HttpRequest(
        "POST", "http://localhost:7071/api/secret-events", body=b'[{"eventType": 1}]'
    )
    response = example.secret_events(post)
    assert response.status_code == 400
    assert response.get_body() == b"event[0].eventType: expected a string, got a number"


class FunctionsWebhook:
    """Serves the example's ``secret_events`` on loopback, as the Functions host would."""

    def __init__(self, handler: Callable[[func.HttpRequest], func.HttpResponse]) -> None:
        served = self

        class Adapter(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _call(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = func.HttpRequest(
                    self.command,
                    f"http://127.0.0.1{self.path}",
                    headers=dict(self.headers.items()),
                    body=body,
                )
                response = handler(request)
                served.calls.append((self.command, response.status_code))
                payload = response.get_body()
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_OPTIONS = _call

        self.calls: list[tuple[str, int]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/secret-events"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _subscribe(emulator: Any, vault: Any, url: str, schema: str) -> str:
    created = emulator.admin(
        "POST", "event-subscriptions", {"vault": vault.name, "endpoint": url, "schema": schema}
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        states = {s["name"]: s for s in emulator.admin("GET", "event-subscriptions")["value"]}
        if states[created["name"]]["provisioning_state"] != "Creating":
            assert states[created["name"]]["provisioning_state"] == "Succeeded"
            return str(created["name"])
        time.sleep(0.02)
    raise AssertionError("the subscription was not validated")


@pytest.mark.parametrize("schema", ["EventGridSchema", "CloudEventSchemaV1_0"])
def test_the_webhook_serves_a_rotation_within_a_second_of_the_write(
    example: ModuleType, emulator: Any, vault: Any, seed: Callable[[str, str], Any], schema: str
) -> None:
    old, new = make_secret_value("old"), make_secret_value("new")
    seed("contoso--db-password", old)
    assert orgsecrets.get("db-password", org="contoso") == old  # cached for an hour
    webhook = FunctionsWebhook(example.secret_events)
    name = _subscribe(emulator, vault, webhook.url, schema)
    try:
        seed("contoso--db-password", new)
        written = time.monotonic()
        while orgsecrets.get("db-password", org="contoso") != new:
            if time.monotonic() - written > 1.0:
                break
            time.sleep(0.005)
        assert orgsecrets.get("db-password", org="contoso") == new, "not served within 1 s"
    finally:
        emulator.admin("DELETE", f"event-subscriptions?name={name}")
        webhook.close()
    assert ("POST", 200) in webhook.calls


def _as_functions_event(event: dict[str, Any]) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
        data_version=event["dataVersion"],
    )


class _Recorder:
    def __init__(self, vault_url: str) -> None:
        self.vault_url = vault_url

    def invalidate(self, name: str | None = None, *, org: str | None = None) -> None:
        pass


def test_the_event_grid_trigger_invalidates_with_the_emulators_event(
    example: ModuleType, emulator: Any, vault: Any, seed: Callable[[str, str], Any]
) -> None:
    old, new = make_secret_value("old"), make_secret_value("new")
    seed("GLOBAL--smtp-password", old)
    assert orgsecrets.get("smtp-password", org="contoso") == old  # the GLOBAL fallback
    # Capture what the emulator's Event Grid delivers (validation answered by the runtime).
    with running_webhook(RotationEvents(_Recorder(vault.uri))) as hook:  # type: ignore[arg-type]
        name = _subscribe(emulator, vault, hook.url, "EventGridSchema")
        try:
            seed("GLOBAL--smtp-password", new)
            assert hook.wait_for(lambda d: len(d) >= 2)
        finally:
            emulator.admin("DELETE", f"event-subscriptions?name={name}")
    delivered = hook.deliveries[-1]["body"][0]
    assert orgsecrets.get("smtp-password", org="contoso") == old  # the TTL still holds it

    example.on_secret_event(_as_functions_event(delivered))

    assert orgsecrets.get("smtp-password", org="contoso") == new


def test_the_trigger_drops_an_event_for_another_vault_with_a_warning(
    example: ModuleType, emulator: Any, vault: Any, seed: Callable[[str, str], Any], caplog: Any
) -> None:
    value = make_secret_value("kept")
    seed("GLOBAL--smtp-password", value)
    assert orgsecrets.get("smtp-password") == value
    since = time.time()
    foreign = func.EventGridEvent(
        id="1",
        data={
            "Id": "https://other-kv.vault.azure.net/secrets/GLOBAL--smtp-password/abc123",
            "VaultName": "other-kv",
            "ObjectType": "Secret",
            "ObjectName": "GLOBAL--smtp-password",
            "Version": "abc123",
        },
        topic="/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/other-kv",
        subject="GLOBAL--smtp-password",
        event_type="Microsoft.KeyVault.SecretNewVersionCreated",
        event_time=None,
        data_version="1",
    )
    with caplog.at_level(logging.WARNING):
        example.on_secret_event(foreign)  # logged and dropped: a retry cannot fix it
    assert "event.data.Id: is not a secret of this store's vault" in caplog.text
    assert orgsecrets.get("smtp-password") == value
    assert not emulator.audit(vault=vault.name, operation="SecretGet", since=since)  # still cached
