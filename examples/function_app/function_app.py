"""An Azure Function (Python v2 programming model) reading its secrets with orgsecrets.

* ``GET /api/orders/{org}``: uses the org's database password, falling back
  to the platform-wide one (``{org}--db-password``, else ``GLOBAL--db-password``).
* ``GET /api/health``: the store's health report as JSON (never a value).
* ``on_secret_event`` (Event Grid trigger) and ``POST|OPTIONS /api/secret-events``
  (a plain webhook): Key Vault's secret events from an Event Grid
  subscription on the vault. Each forgets exactly the rotated secret, so the
  next ``get`` reads the new version instead of waiting out the cache TTL.
  Use one of the two: the trigger (Functions answers Event Grid's handshake
  itself) or the webhook (it answers both handshakes, for subscriptions in
  either schema).

In Azure: enable a managed identity on the Function App, give it *Key Vault
Secrets User* on the vault, and set the app setting ``AZURE_KEY_VAULT_URL``.
Locally: leave ``AZURE_KEY_VAULT_URL`` unset and put ``CONTOSO__DB_PASSWORD`` /
``GLOBAL__DB_PASSWORD`` in ``local.settings.json`` (see the example file).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func
import orgsecrets
from orgsecrets.events import InvalidEventError, RotationEvents, webhook_validation_headers

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

# One store per worker process, built on first use from the app settings.
# The first cold start can warm the cache for the org(s) this app serves:
#   orgsecrets.default_store().prefetch("contoso")


@app.route(route="orders/{org}", methods=["GET"])
def orders(req: func.HttpRequest) -> func.HttpResponse:
    org = req.route_params["org"]
    try:
        password = orgsecrets.get("db-password", org=org)  # ~0.3 µs once cached
    except orgsecrets.InvalidSecretNameError as exc:
        return func.HttpResponse(str(exc), status_code=400)
    except orgsecrets.SecretNotFoundError as exc:
        logging.error("configuration missing: %s", exc)  # names only, never values
        return func.HttpResponse("not configured", status_code=500)
    except orgsecrets.VaultError as exc:
        logging.error("Key Vault unavailable: %s", exc)
        return func.HttpResponse("secrets unavailable", status_code=503)
    connected = connect_to_database(org, password)
    return func.HttpResponse(json.dumps({"org": org, "connected": connected}))


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = orgsecrets.default_store().health()
    return func.HttpResponse(
        json.dumps(report.as_dict()),
        status_code=200 if report.ok else 503,
        mimetype="application/json",
    )


def connect_to_database(org: str, password: str) -> bool:
    """Stands in for the app's real work; the password is used, never logged."""
    return bool(password)


# -- rotation: Key Vault's events invalidate the cache entry they name ---------------


@app.event_grid_trigger(arg_name="event")
def on_secret_event(event: func.EventGridEvent) -> None:
    """Event Grid trigger: subscribe it to SecretNewVersionCreated (and the expiry events)."""
    try:
        RotationEvents(orgsecrets.default_store()).handle(event_grid_dict(event))
    except InvalidEventError as exc:  # retrying would not make it valid: log and drop
        logging.warning("secret event refused: %s", exc)  # names only, never values


@app.route(
    route="secret-events",
    methods=["POST", "OPTIONS"],
    auth_level=func.AuthLevel.FUNCTION,  # the subscription's URL carries ?code=<function key>
)
def secret_events(req: func.HttpRequest) -> func.HttpResponse:
    """Webhook for an Event Grid subscription, in the Event Grid or the CloudEvents schema."""
    if req.method == "OPTIONS":  # the CloudEvents handshake
        allowed = webhook_validation_headers(dict(req.headers))
        return func.HttpResponse(status_code=200 if allowed else 400, headers=allowed or {})
    try:
        outcome = RotationEvents(orgsecrets.default_store()).handle(req.get_body())
    except InvalidEventError as exc:
        logging.warning("secret event refused: %s", exc)
        return func.HttpResponse(str(exc), status_code=400)
    if outcome.validation_response is not None:  # the Event Grid schema's handshake
        return func.HttpResponse(
            json.dumps(outcome.validation_response), mimetype="application/json"
        )
    return func.HttpResponse(status_code=200)


def event_grid_dict(event: func.EventGridEvent) -> dict[str, object]:
    """The trigger's event back in the Event Grid schema, as ``RotationEvents`` reads it."""
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "data": event.get_json(),
        "dataVersion": event.data_version,
    }
