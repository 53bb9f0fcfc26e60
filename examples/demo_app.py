"""A small app that reads its secrets with ``orgsecrets``, as `make demo` runs it.

It is configured the way a deployed app is: ``AZURE_KEY_VAULT_URL`` names the
vault and the managed identity signs in through ``DefaultAzureCredential``
(``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``). `make demo` points both at the
local emulator (``python -m keyvault_emulator env --identity app`` prints them)::

    eval "$(make -s emulator-env IDENTITY=app)"
    AZURE_KEY_VAULT_URL=https://127.0.0.1:PORT/ .venv/bin/python examples/demo_app.py

It shows, for the org ``contoso`` (see ``secrets/contoso.yaml``):

1. an org secret (``contoso--db-password``);
2. the GLOBAL fallback (contoso has no ``session-signing-key`` of its own);
3. a cached read (no request reaches the vault);
4. a write refused by RBAC (the app holds *Key Vault Secrets User*, read-only);
5. the health check, as a health endpoint would return it.

It prints secret names and outcomes, never a value. Exit code 0 when every
step behaved as described, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import time

import orgsecrets
from orgsecrets import SecretStore, StoreConfig

ORG = "contoso"


def main() -> int:
    config = StoreConfig.from_env()
    if config.vault_url is None:
        print("AZURE_KEY_VAULT_URL is not set: nothing to read from (see the module docstring)")
        return 1
    ok = True
    with SecretStore(config) as store:
        print(f"vault: {config.vault_url}  org: {ORG}")

        # 1. An org secret: contoso--db-password exists, so it wins.
        store.get("db-password", org=ORG)
        print(f"1. read db-password for {ORG}: found {ORG}--db-password (value not shown)")

        # 2. The fallback: contoso--session-signing-key does not exist, so the
        #    store reads GLOBAL--session-signing-key. Prove it by comparing with
        #    a GLOBAL-only read (values compared, never printed).
        for_org = store.get("session-signing-key", org=ORG)
        global_only = store.get("session-signing-key")
        same = for_org == global_only
        ok &= same
        print(
            f"2. read session-signing-key for {ORG}: {ORG} has none of its own, "
            + ("fell back to GLOBAL--session-signing-key" if same else "UNEXPECTED: not GLOBAL's")
        )

        # 3. A cached read: a dictionary lookup, no request to the vault.
        started = time.perf_counter()
        store.get("db-password", org=ORG)
        elapsed_us = (time.perf_counter() - started) * 1e6
        print(f"3. read db-password for {ORG} again: from the cache in {elapsed_us:.1f} µs")

        # 4. A write: the app's identity may read, not write (RBAC).
        outcome, refused = try_write(config.vault_url)
        ok &= refused
        print(f"4. write {ORG}--db-password: {outcome}")

        # 5. The health check a /health endpoint would serve.
        report = store.health()
        ok &= report.ok
        print(f"5. health: {json.dumps(report.as_dict())}")
    return 0 if ok else 1


def try_write(vault_url: str) -> tuple[str, bool]:
    """Try ``set_secret`` with the app's own identity; (what happened, refused?).

    ``orgsecrets`` only reads, so this uses the Azure SDK directly, with the
    same identity. Against the emulator the client trusts its CA and skips
    the challenge's host check (the vault lives on 127.0.0.1, not
    ``*.vault.azure.net``); against Azure neither option is passed.
    """
    from azure.core.exceptions import HttpResponseError
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    options: dict[str, object] = {}
    ca = os.environ.get("KEYVAULT_EMULATOR_CA")
    if ca and orgsecrets.config.is_loopback_url(vault_url):
        options = {"connection_verify": ca, "verify_challenge_resource": False}
    with (
        DefaultAzureCredential() as credential,
        SecretClient(vault_url, credential, retry_total=0, **options) as client,
    ):
        try:
            client.set_secret(f"{ORG}--db-password", "attempted-by-demo-app")
        except HttpResponseError as exc:
            error = getattr(exc, "error", None)
            code = getattr(error, "code", None) or "?"
            inner = getattr(getattr(error, "innererror", None), "get", lambda _k: None)("code")
            # Azure's message runs over several lines (caller, action, scope): the first says it.
            message = (getattr(error, "message", None) or str(exc)).strip().splitlines()[0]
            detail = f"{exc.status_code} {code}" + (f" ({inner})" if inner else "")
            return f"refused as expected: {detail}: {message}", exc.status_code == 403
    return "UNEXPECTED: the write succeeded; the app identity should be read-only", False


if __name__ == "__main__":
    sys.exit(main())
