"""orgsecrets.events without a network: both schemas, every input form, bad events.

The events are built in the shapes Microsoft documents for Key Vault as an
Event Grid source (PascalCase ``data``), in the Event Grid schema and as
CloudEvents 1.0. A recording store stands in for the cache: what is tested
here is which names reach ``invalidate``; the real store is driven by the
rotation test on the emulator.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from orgsecrets import ConfigurationError, StoreConfig
from orgsecrets.events import (
    EventSchema,
    IgnoredEvent,
    InvalidEventError,
    RotationEvents,
    SecretEvent,
    SubscriptionValidation,
    parse_events,
    webhook_validation_headers,
)
from orgsecrets.store import SecretStore

VAULT_URL = "https://sample-kv.vault.azure.net/"
TOPIC = "/subscriptions/s-1/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv"
VERSION = "ee059b2bb5bc48398a53b168c6cdcb10"
MARKER = "payload-marker-7f3a"  # content of a delivery that no error may repeat


def event_grid(
    name: str = "contoso--db-password",
    event_type: str = "Microsoft.KeyVault.SecretNewVersionCreated",
    *,
    vault: str = "sample-kv",
    host: str = "sample-kv.vault.azure.net",
) -> dict[str, Any]:
    return {
        "id": "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
        "topic": TOPIC.replace("sample-kv", vault),
        "subject": name,
        "eventType": event_type,
        "eventTime": "2019-07-25T01:08:33.1036736Z",
        "data": {
            "Id": f"https://{host}/secrets/{name}/{VERSION}",
            "VaultName": vault,
            "ObjectType": "Secret",
            "ObjectName": name,
            "Version": VERSION,
            "NBF": 1559081980,
            "EXP": 1559082102,
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def cloud_event(name: str = "contoso--db-password", **options: Any) -> dict[str, Any]:
    grid = event_grid(name, **options)
    return {
        "id": grid["id"],
        "source": grid["topic"],
        "subject": grid["subject"],
        "type": grid["eventType"],
        "time": grid["eventTime"],
        "data": grid["data"],
        "specversion": "1.0",
    }


class RecordingStore:
    def __init__(self, vault_url: str | None = VAULT_URL) -> None:
        self.vault_url = vault_url
        self.invalidated: list[tuple[str | None, str | None]] = []

    def invalidate(self, name: str | None = None, *, org: str | None = None) -> None:
        self.invalidated.append((name, org))


def handler(store: RecordingStore | None = None) -> tuple[RotationEvents, RecordingStore]:
    store = store or RecordingStore()
    return RotationEvents(store), store  # type: ignore[arg-type]


# -- both schemas, every form ----------------------------------------------------------


@pytest.mark.parametrize("make", [event_grid, cloud_event], ids=["event-grid", "cloudevents"])
@pytest.mark.parametrize("form", ["dict", "list", "json", "bytes", "bytes-bom"])
def test_both_schemas_in_every_form_invalidate_the_named_entry(make: Any, form: str) -> None:
    event = make()
    payload: Any = {
        "dict": event,
        "list": [event],
        "json": json.dumps([event]),
        "bytes": json.dumps(event).encode(),
        "bytes-bom": b"\xef\xbb\xbf" + json.dumps([event]).encode(),
    }[form]
    events, store = handler()
    outcome = events.handle(payload)
    assert outcome.invalidated == ("contoso--db-password",)
    assert store.invalidated == [("db-password", "contoso")]
    assert outcome.validation_response is None and outcome.ignored == ()


def test_the_parsed_event_holds_the_data_fields() -> None:
    (grid,) = parse_events([event_grid()])
    (cloud,) = parse_events(cloud_event())
    assert isinstance(grid, SecretEvent) and isinstance(cloud, SecretEvent)
    assert grid.schema is EventSchema.EVENT_GRID and cloud.schema is EventSchema.CLOUD_EVENTS
    for event in (grid, cloud):
        assert event.vault_name == "sample-kv"
        assert event.object_name == "contoso--db-password"
        assert event.version == VERSION
        assert event.not_before == 1559081980 and event.expires == 1559082102
        assert event.secret is not None and event.secret.scope == "contoso"


def test_microsofts_sample_with_its_stray_blanks_and_string_dates_is_read() -> None:
    # The documented sample has "ObjectName " (a trailing blank), a version with a
    # leading blank and NBF/EXP as strings; the SDK models use camelCase keys.
    event = event_grid()
    data = event["data"]
    event["data"] = {
        "id": data["Id"],
        "vaultName": data["VaultName"],
        "objectType": "Secret",
        "ObjectName ": data["ObjectName"],
        "Version": " " + VERSION,
        "NBF": "1559081980",
        "EXP": None,
    }
    (parsed,) = parse_events([event])
    assert isinstance(parsed, SecretEvent)
    assert parsed.version == VERSION and parsed.not_before == 1559081980 and parsed.expires is None


def test_a_global_secret_invalidates_the_global_entry() -> None:
    events, store = handler()
    events.handle([event_grid("GLOBAL--smtp-password")])
    assert store.invalidated == [("smtp-password", None)]


@pytest.mark.parametrize(
    "event_type",
    [
        "Microsoft.KeyVault.SecretNewVersionCreated",
        "Microsoft.KeyVault.SecretNearExpiry",
        "Microsoft.KeyVault.SecretExpired",
    ],
)
def test_each_secret_event_type_invalidates(event_type: str) -> None:
    events, store = handler()
    events.handle([event_grid(event_type=event_type)])
    assert store.invalidated == [("db-password", "contoso")]


def test_a_batch_invalidates_each_name_once_in_order() -> None:
    events, store = handler()
    outcome = events.handle(
        [
            event_grid("GLOBAL--a"),
            event_grid("contoso--b"),
            event_grid("GLOBAL--a", "Microsoft.KeyVault.SecretNearExpiry"),
        ]
    )
    assert outcome.invalidated == ("GLOBAL--a", "contoso--b")
    assert store.invalidated == [("a", None), ("b", "contoso")]


def test_other_event_types_and_names_outside_the_rule_are_ignored_not_refused() -> None:
    events, store = handler()
    key_event = event_grid(event_type="Microsoft.KeyVault.KeyNewVersionCreated")
    blob = {**event_grid(), "eventType": "Microsoft.Storage.BlobCreated", "data": {}}
    outcome = events.handle([key_event, blob, event_grid("legacy-password")])
    assert store.invalidated == []
    assert [(i.location, i.reason) for i in outcome.ignored] == [
        ("event[0]", "not a Key Vault secret event"),
        ("event[1]", "not a Key Vault secret event"),
        ("event[2]", "outside the naming rule"),
    ]
    assert all(isinstance(i, IgnoredEvent) for i in outcome.ignored)


# -- the handshakes ------------------------------------------------------------------


def test_the_subscription_validation_event_is_answered() -> None:
    validation = {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "topic": TOPIC,
        "subject": "",
        "data": {
            "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
            "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/x",
        },
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2018-01-25T22:12:19.4556811Z",
        "metadataVersion": "1",
        "dataVersion": "1",
    }
    (parsed,) = parse_events([validation])
    assert isinstance(parsed, SubscriptionValidation)
    events, store = handler()
    outcome = events.handle(json.dumps([validation]))
    assert outcome.validation_response == {
        "validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    }
    assert store.invalidated == []


def test_the_cloudevents_options_handshake() -> None:
    asked = {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "120"}
    assert webhook_validation_headers(asked) == {
        "WebHook-Allowed-Origin": "eventgrid.azure.net",
        "Allow": "POST, OPTIONS",
        "WebHook-Allowed-Rate": "*",
    }
    lower = {"webhook-request-origin": "eventgrid.azure.net"}
    assert webhook_validation_headers(lower) == {
        "WebHook-Allowed-Origin": "eventgrid.azure.net",
        "Allow": "POST, OPTIONS",
    }
    assert webhook_validation_headers({}) is None
    assert webhook_validation_headers({"WebHook-Request-Origin": "evil.example"}) is None
    assert webhook_validation_headers(
        {"WebHook-Request-Origin": "evil.example"}, allowed_origins=None
    ) == {"WebHook-Allowed-Origin": "evil.example", "Allow": "POST, OPTIONS"}


# -- the vault check --------------------------------------------------------------------


@pytest.mark.parametrize("make", [event_grid, cloud_event], ids=["event-grid", "cloudevents"])
def test_an_event_for_another_vault_is_refused_and_nothing_is_invalidated(make: Any) -> None:
    events, store = handler()
    other = make(vault="other-kv", host="other-kv.vault.azure.net")
    with pytest.raises(InvalidEventError) as refused:
        events.handle([make("GLOBAL--a"), other])
    assert refused.value.location == "event[1].data.Id"
    assert store.invalidated == []


def test_a_vault_name_that_disagrees_with_the_azure_host_is_refused() -> None:
    event = event_grid(vault="other-kv")  # Id still on sample-kv's host
    events, _ = handler()
    with pytest.raises(InvalidEventError) as refused:
        events.handle(event)
    assert refused.value.location == "event.data.VaultName"


def test_the_emulators_loopback_vault_is_matched_by_scheme_host_and_port() -> None:
    store = RecordingStore("https://127.0.0.1:41005/")
    events, _ = handler(store)
    here = event_grid(vault="kv-local", host="127.0.0.1:41005")
    events.handle(here)
    assert store.invalidated == [("db-password", "contoso")]
    elsewhere = event_grid(vault="kv-local", host="127.0.0.1:41006")
    with pytest.raises(InvalidEventError, match="not a secret of this store's vault"):
        events.handle(elsewhere)


def test_a_store_without_a_vault_cannot_take_events() -> None:
    with pytest.raises(ConfigurationError, match="AZURE_KEY_VAULT_URL"):
        RotationEvents(RecordingStore(None))  # type: ignore[arg-type]


def test_the_real_store_takes_the_handler_without_a_network() -> None:
    store = SecretStore(StoreConfig(vault_url=VAULT_URL), credential=object())  # type: ignore[arg-type]
    try:
        outcome = RotationEvents(store).handle([event_grid()])
    finally:
        store.close()
    assert outcome.invalidated == ("contoso--db-password",)


# -- bad events: located, value-free --------------------------------------------------


def _with(path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(event_grid())
    target: Any = event
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return event


_DROP = object()

BAD: list[tuple[str, Any, str, str]] = [
    # (field, value, location, problem fragment)
    ("eventType", _DROP, "event[0]", "neither an Event Grid event"),
    ("id", _DROP, "event[0].id", "missing"),
    ("id", 7, "event[0].id", "expected a string, got a number"),
    ("data", _DROP, "event[0].data", "missing"),
    ("data", [MARKER], "event[0].data", "expected an object"),
    ("data.ObjectType", "Key", "event[0].data.ObjectType", "must name a Secret"),
    ("data.VaultName", MARKER + "!", "event[0].data.VaultName", "not a Key Vault name"),
    ("data.ObjectName", MARKER + "/x", "event[0].data.ObjectName", "not a Key Vault secret"),
    ("data.ObjectName", _DROP, "event[0].data.ObjectName", "missing"),
    ("data.Version", MARKER + "-", "event[0].data.Version", "not a secret version"),
    ("data.Id", "ftp://" + MARKER, "event[0].data.Id", "not an https URL"),
    (
        "data.Id",
        f"https://sample-kv.vault.azure.net/keys/{MARKER}",
        "event[0].data.Id",
        "not a secret version's id",
    ),
    (
        "data.Id",
        f"https://sample-kv.vault.azure.net/secrets/other/{VERSION}",
        "event[0].data.Id",
        "does not match",
    ),
    ("data.NBF", MARKER, "event[0].data.NBF", "expected seconds since 1970"),
    ("data.EXP", {"x": MARKER}, "event[0].data.EXP", "expected seconds, got an object"),
    ("data.EXP", float("inf"), "event[0].data.EXP", "expected seconds since 1970"),
    ("subject", MARKER, "event[0].subject", "does not name data.ObjectName"),
    ("topic", "/subscriptions/x/" + MARKER, "event[0].topic", "is not the vault"),
]


@pytest.mark.parametrize(
    ("field", "value", "location", "problem"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_a_bad_event_is_refused_where_it_is_wrong_without_its_content(
    field: str, value: Any, location: str, problem: str
) -> None:
    events, store = handler()
    with pytest.raises(InvalidEventError) as refused:
        events.handle([_with(field, value)])
    assert refused.value.location == location
    assert problem in str(refused.value)
    assert MARKER not in str(refused.value) and MARKER not in repr(refused.value)
    assert refused.value.__cause__ is None
    assert store.invalidated == []


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xfe" + MARKER.encode("utf-16-le"), "delivery: not UTF-8 text"),
        ("[" + json.dumps(MARKER), "delivery: not JSON (line 1, column"),
        ("[NaN]", "delivery: not JSON"),
        ("[]", "delivery: an empty batch"),
        (json.dumps(MARKER), "delivery: expected an event or an array, got str"),
        ("[" * 100_000 + "]" * 100_000, "delivery: JSON nested too deeply"),
        (b" " * (1024 * 1024 + 1), "more than Event Grid's"),
        (json.dumps([MARKER]), "event[0]: expected an event object, got str"),
        (
            json.dumps({"specversion": "0.3", "id": MARKER}),
            "event.specversion: only CloudEvents 1.0",
        ),
        (
            json.dumps({**cloud_event(), "data_base64": MARKER}),
            "event.data_base64: binary data",
        ),
        (json.dumps({"eventType": "x", "EventType": "y", "id": "1"}), "appears twice"),
    ],
)
def test_a_bad_delivery_is_refused_without_its_content_in_the_error_or_its_chain(
    payload: Any, problem: str
) -> None:
    events, store = handler()
    with pytest.raises(InvalidEventError) as refused:
        events.handle(payload)
    assert problem in str(refused.value)
    error: BaseException | None = refused.value
    while error is not None:  # the whole chain: a codec error would hold the payload
        assert MARKER not in str(error) and MARKER not in repr(error)
        assert not isinstance(error, UnicodeDecodeError | json.JSONDecodeError)
        error = error.__cause__ or error.__context__
    assert store.invalidated == []


def test_a_bad_event_late_in_a_batch_leaves_the_good_ones_uninvalidated() -> None:
    events, store = handler()
    with pytest.raises(InvalidEventError) as refused:
        events.handle([event_grid("GLOBAL--a"), event_grid("GLOBAL--b"), _with("id", _DROP)])
    assert refused.value.location == "event[2].id"
    assert store.invalidated == []
