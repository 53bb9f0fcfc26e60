"""Production guardrails: on App Service / Functions with no vault, the store refuses local sources.

A forgotten ``AZURE_KEY_VAULT_URL`` in production must not pass the health
check or serve app settings as secrets; ``ORGSECRETS_ALLOW_LOCAL_IN_AZURE``
allows it on purpose.
"""

from __future__ import annotations

from typing import Any

import pytest
from orgsecrets import ConfigurationError, HealthStatus, SecretStore, StoreConfig
from orgsecrets.config import detect_hosting


@pytest.mark.parametrize(
    ("environ", "hosted"),
    [
        ({}, None),
        ({"WEBSITE_INSTANCE_ID": "abc"}, "Azure App Service"),
        ({"WEBSITE_SITE_NAME": "shop"}, "Azure App Service (site 'shop')"),
        (
            {"WEBSITE_SITE_NAME": "fn", "FUNCTIONS_WORKER_RUNTIME": "python"},
            "Azure Functions (site 'fn')",
        ),
        (
            {"FUNCTIONS_WORKER_RUNTIME": "python", "AZURE_FUNCTIONS_ENVIRONMENT": "Production"},
            "Azure Functions",
        ),
        ({"FUNCTIONS_WORKER_RUNTIME": "python"}, None),  # a worker started by hand
        (  # func start (Core Tools)
            {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AZURE_FUNCTIONS_ENVIRONMENT": "Development",
                "WEBSITE_SITE_NAME": "fn",
            },
            None,
        ),
    ],
)
def test_hosting_is_read_from_the_platform_variables(
    environ: dict[str, str], hosted: str | None
) -> None:
    assert detect_hosting(environ) == hosted


def test_hosted_without_a_vault_refuses_local_sources_and_fails_health(tmp_path: Any) -> None:
    environ = {"WEBSITE_SITE_NAME": "shop", "CONTOSO__DB_PASSWORD": "sv-local-must-not-serve"}
    config = StoreConfig.from_env(environ, dotenv_path=tmp_path / ".env", local_settings_path=None)
    store = SecretStore(config)
    report = store.health()
    assert not report.ok and report.status is HealthStatus.MISCONFIGURED
    assert report.as_dict()["ok"] is False
    assert "AZURE_KEY_VAULT_URL" in report.reason and "Azure App Service" in report.reason
    for _ in range(2):  # not cached: every read says so
        with pytest.raises(ConfigurationError) as caught:
            store.get("db-password", org="contoso")
        assert "ORGSECRETS_ALLOW_LOCAL_IN_AZURE=true" in str(caught.value)
    with pytest.raises(ConfigurationError):
        store.prefetch("contoso")
    store.close()


def test_hosted_local_reads_can_be_allowed_explicitly(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CONTOSO__DB_PASSWORD", "local-on-purpose")
    environ = {"WEBSITE_SITE_NAME": "shop", "ORGSECRETS_ALLOW_LOCAL_IN_AZURE": "true"}
    config = StoreConfig.from_env(environ, dotenv_path=None, local_settings_path=None)
    with SecretStore(config) as store:
        assert store.get("db-password", org="contoso") == "local-on-purpose"
        assert store.health().status is HealthStatus.LOCAL_ONLY
    with pytest.raises(ConfigurationError, match="ORGSECRETS_ALLOW_LOCAL_IN_AZURE"):
        StoreConfig.from_env({"ORGSECRETS_ALLOW_LOCAL_IN_AZURE": "maybe"})


def test_hosted_with_a_vault_is_not_refused() -> None:
    config = StoreConfig.from_env(
        {"WEBSITE_SITE_NAME": "shop", "AZURE_KEY_VAULT_URL": "https://kv1.vault.azure.net/"}
    )
    assert config.hosting == "Azure App Service (site 'shop')"
    assert config.local_refused is None
