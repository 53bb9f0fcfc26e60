"""An Azure Function (Python v2 programming model) reading its secrets with orgsecrets.

* ``GET /api/orders/{org}``: uses the org's database password, falling back
  to the platform-wide one (``{org}--db-password``, else ``GLOBAL--db-password``).
* ``GET /api/health``: the store's health report as JSON (never a value).

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
