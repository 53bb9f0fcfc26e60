"""The emulator's event subscriptions, offline: what may be subscribed, and the wire shapes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from keyvault_emulator.config import load_config
from keyvault_emulator.events import (
    CLOUD_EVENT_SCHEMA,
    NEW_VERSION,
    SECRET_EVENT_TYPES,
    EventSubscription,
    _event,
    _Source,
    as_cloud_event,
    check_endpoint,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:7071/api/secret-events",
        "https://127.0.0.1:8443/hook?code=abc",
        "http://localhost/hook",
        "http://[::1]:9000/",
        "http://127.0.0.2/",
    ],
)
def test_loopback_http_and_https_endpoints_are_accepted(url: str) -> None:
    assert check_endpoint(url) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com/hook", "not a loopback address"),
        ("http://192.168.1.10/hook", "not a loopback address"),
        ("http://localhost.example.com/", "not a loopback address"),
        ("http:///hook", "no host is not a loopback address"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http://u:p@127.0.0.1/", "credentials in the URL"),
        ("http://127.0.0.1:99999/", "endpoint: Port out of range"),
    ],
)
def test_other_endpoints_are_refused_with_the_reason(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_endpoint(url)


def test_a_subscription_defaults_to_every_secret_event_in_the_event_grid_schema() -> None:
    subscription = EventSubscription.from_mapping(
        {"vault": "kv-local", "endpoint": "http://127.0.0.1:1/"}
    )
    assert subscription.schema == "EventGridSchema"
    assert subscription.event_types == SECRET_EVENT_TYPES
    assert subscription.name.startswith("kv-local-")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("kv-local", "event_subscriptions[0]: expected a mapping"),
        ({"endpoint": "http://127.0.0.1/"}, "event_subscriptions[0].vault: "),
        ({"vault": "kv", "endpoint": "https://example.com/"}, "event_subscriptions[0].endpoint: "),
        ({"vault": "kv", "endpoint": "http://127.0.0.1/", "schema": "x"}, "[0].schema: expected"),
        (
            {"vault": "kv", "endpoint": "http://127.0.0.1/", "event_types": ["Microsoft.X"]},
            "[0].event_types: expected some of",
        ),
        ({"vault": "kv", "endpoint": "http://127.0.0.1/", "url": "x"}, "unknown keys url"),
    ],
)
def test_a_bad_configured_subscription_is_refused_where_it_is(
    tmp_path: Path, entry: object, problem: str
) -> None:
    path = tmp_path / "emulator.yaml"
    path.write_text(yaml.safe_dump({"event_subscriptions": [entry]}), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_config(path)
    assert problem in str(refused.value)


def test_configured_subscriptions_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "emulator.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            event_subscriptions:
              - vault: kv-local
                endpoint: http://127.0.0.1:7071/api/secret-events
                schema: CloudEventSchemaV1_0
                name: app-hook
            """
        ),
        encoding="utf-8",
    )
    (subscription,) = load_config(path).event_subscriptions
    assert (subscription.vault, subscription.schema, subscription.name) == (
        "kv-local",
        CLOUD_EVENT_SCHEMA,
        "app-hook",
    )


def test_the_event_has_key_vaults_shape_in_both_schemas() -> None:
    source = _Source(
        "kv-local",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-local",
        "https://127.0.0.1:4000/",
    )
    event = _event(source, NEW_VERSION, "GLOBAL--smtp", "0123abcd", None, 1700000000)
    assert event["topic"] == source.resource_id and event["subject"] == "GLOBAL--smtp"
    assert event["eventTime"].endswith("Z")
    assert event["data"] == {
        "Id": "https://127.0.0.1:4000/secrets/GLOBAL--smtp/0123abcd",
        "VaultName": "kv-local",
        "ObjectType": "Secret",
        "ObjectName": "GLOBAL--smtp",
        "Version": "0123abcd",
        "NBF": None,
        "EXP": 1700000000,
    }
    cloud = as_cloud_event(event)
    assert cloud["specversion"] == "1.0" and cloud["type"] == NEW_VERSION
    assert cloud["source"] == source.resource_id and cloud["data"] is event["data"]


def test_the_runtime_reads_what_the_emulator_sends() -> None:
    from orgsecrets.events import SecretEvent, parse_events

    source = _Source(
        "kv-local",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-local",
        "https://127.0.0.1:4000/",
    )
    event = _event(source, NEW_VERSION, "contoso--db", "0123abcd", 1, 2)
    for parsed in (*parse_events([event]), *parse_events(as_cloud_event(event))):
        assert isinstance(parsed, SecretEvent) and parsed.object_name == "contoso--db"
