"""The code under test: an app that reads its database password from Key Vault.

It knows nothing of the emulator: the vault's URL and the identity come
from the environment, as in Azure (App Service or Container Apps set
``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``; you set ``AZURE_KEY_VAULT_URL``).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient


def secret_client() -> SecretClient:
    url = os.environ["AZURE_KEY_VAULT_URL"]
    # A vault on 127.0.0.1 (the emulator) cannot match Key Vault's challenge
    # resource (vault.azure.net); a real vault's URL keeps the check on.
    local = urlsplit(url).hostname == "127.0.0.1"
    return SecretClient(url, DefaultAzureCredential(), verify_challenge_resource=not local)


def database_password() -> str:
    with secret_client() as client:
        value = client.get_secret("database-password").value
    if value is None:
        raise LookupError("database-password has no value")
    return value
