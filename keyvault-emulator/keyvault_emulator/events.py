"""Key Vault's Event Grid events, delivered to webhooks on this machine.

Azure publishes a vault's secret events through an Event Grid system topic;
an event subscription pushes them to a webhook. The emulator does the same
for subscriptions made in its configuration (``event_subscriptions:``) or
through the admin API (``/_emulator/event-subscriptions``):

* ``Microsoft.KeyVault.SecretNewVersionCreated`` on every new version
  (``PUT /secrets/{name}``), published as the write answers;
* ``SecretNearExpiry`` 30 days before the current version's ``exp`` and
  ``SecretExpired`` at it, for versions made while the emulator runs (Azure,
  too, sends events only for versions created after the subscription). The
  version is looked up again when the time comes: a version since replaced,
  deleted, or given another ``exp`` is not reported (the new ``exp`` is
  watched instead).

Each subscription belongs to one vault and names an endpoint, the delivery
schema (``EventGridSchema`` or ``CloudEventSchemaV1_0``) and the event types
it wants. Endpoints must be loopback ``http``/``https`` URLs (127.0.0.1,
::1, localhost), and redirects are not followed, so the emulator can never
be pointed at another host. As Event Grid does, a subscription is validated
before its first delivery: the Event Grid schema's ``SubscriptionValidation``
event must be answered with its ``validationResponse``, the CloudEvents
``OPTIONS`` request with ``WebHook-Allowed-Origin``.

Delivery runs off the request path: one thread and one bounded queue per
subscription, so a slow webhook delays only its own events. A delivery is
retried a bounded number of times (not after 400 or 413, which Event Grid
dead-letters at once); then the event is dropped and a warning logged.
Events carry names and versions, never a value.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import ipaddress
import json
import logging
import queue
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from .errors import AzureError, NotFound

if TYPE_CHECKING:
    from .keyvault.models import SecretVersion, Vault
    from .state import World

log = logging.getLogger("emulator.events")

NEW_VERSION: Final = "Microsoft.KeyVault.SecretNewVersionCreated"
NEAR_EXPIRY: Final = "Microsoft.KeyVault.SecretNearExpiry"
EXPIRED: Final = "Microsoft.KeyVault.SecretExpired"
SECRET_EVENT_TYPES: Final = (NEW_VERSION, NEAR_EXPIRY, EXPIRED)
VALIDATION_EVENT: Final = "Microsoft.EventGrid.SubscriptionValidationEvent"
EVENT_GRID_SCHEMA: Final = "EventGridSchema"
CLOUD_EVENT_SCHEMA: Final = "CloudEventSchemaV1_0"
SCHEMAS: Final = (EVENT_GRID_SCHEMA, CLOUD_EVENT_SCHEMA)
ORIGIN: Final = "eventgrid.azure.net"
NEAR_EXPIRY_S: Final = 30 * 86_400  # Key Vault's fixed notice for secrets

MAX_SUBSCRIPTIONS: Final = 20
QUEUE_SIZE: Final = 1000
RETRY_DELAYS_S: Final = (0.2, 1.0, 3.0)  # four attempts in all
TIMEOUT_S: Final = 5.0
NOT_RETRIED: Final = frozenset({400, 413})


def check_endpoint(url: str, location: str = "endpoint") -> str:
    """``url`` if it is a loopback http(s) URL, else a ValueError naming ``location``."""
    if not isinstance(url, str):
        raise ValueError(f"{location}: expected a URL string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{location}: only http:// and https:// webhooks are delivered to")
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{location}: credentials in the URL are not accepted")
    loopback = host == "localhost"
    if not loopback:
        with contextlib.suppress(ValueError):
            loopback = ipaddress.ip_address(host).is_loopback
    if not loopback:
        raise ValueError(
            f"{location}: {host or 'no host'} is not a loopback address; the emulator "
            "delivers only to 127.0.0.1, ::1 or localhost"
        )
    try:
        parts.port  # noqa: B018 - a bad port raises here, not at delivery time
    except ValueError as error:
        raise ValueError(f"{location}: {error}") from None
    return url


@dataclass(frozen=True)
class EventSubscription:
    """Where one vault's secret events go, in which schema, and which of them."""

    vault: str
    endpoint: str
    schema: str = EVENT_GRID_SCHEMA
    event_types: tuple[str, ...] = SECRET_EVENT_TYPES
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.vault, str) or not self.vault:
            raise ValueError("vault: the vault whose events to deliver is required")
        check_endpoint(self.endpoint)
        if self.schema not in SCHEMAS:
            raise ValueError(f"schema: expected one of {', '.join(SCHEMAS)}")
        unknown = [t for t in self.event_types if t not in SECRET_EVENT_TYPES]
        if unknown or not self.event_types:
            raise ValueError(f"event_types: expected some of {', '.join(SECRET_EVENT_TYPES)}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.vault.lower()}-{uuid.uuid4().hex[:8]}")

    @classmethod
    def from_mapping(cls, data: Any, location: str = "event_subscriptions") -> EventSubscription:
        """From configuration or an admin request; errors name ``location`` and the key."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{location}: expected a mapping")
        unknown = set(data) - {"vault", "endpoint", "schema", "event_types", "name"}
        if unknown:
            raise ValueError(f"{location}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        try:
            return cls(
                vault=data.get("vault", ""),
                endpoint=data.get("endpoint", ""),
                schema=data.get("schema", EVENT_GRID_SCHEMA),
                event_types=tuple(data.get("event_types") or SECRET_EVENT_TYPES),
                name=str(data.get("name") or ""),
            )
        except ValueError as error:
            raise ValueError(f"{location}.{error}") from None


@dataclass(frozen=True)
class CurrentVersion:
    """What an expiry check needs of a secret's current version."""

    version: str
    not_before: int | None
    expires: int | None


def current_version(world: World, vault: str, name: str) -> CurrentVersion | None:
    """The live, enabled current version of ``name`` (run it on the emulator's loop)."""
    secrets = world.vault_secrets.get(vault.lower())
    if secrets is None:
        return None
    try:
        _, latest = secrets.get(name)  # the latest version; refuses a disabled one
    except AzureError:  # deleted, never existed, or disabled since
        return None
    return CurrentVersion(latest.version, latest.not_before, latest.expires)


@dataclass(frozen=True)
class _Source:
    """A vault as its events name it."""

    name: str
    resource_id: str
    url: str


def _event(
    source: _Source, event_type: str, name: str, version: str, nbf: int | None, exp: int | None
) -> dict[str, Any]:
    """An event in Event Grid's schema (the CloudEvent is made from it at delivery)."""
    return {
        "id": str(uuid.uuid4()),
        "topic": source.resource_id,
        "subject": name,
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "Id": f"{source.url}secrets/{name}/{version}",
            "VaultName": source.name,
            "ObjectType": "Secret",
            "ObjectName": name,
            "Version": version,
            "NBF": nbf,
            "EXP": exp,
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def as_cloud_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, as Event Grid maps it."""
    return {
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
        "specversion": "1.0",
    }


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect would lead off loopback: taken as the answer, a failure


class _Subscriber:
    """One subscription's queue and delivery thread."""

    def __init__(self, subscription: EventSubscription, opener: urllib.request.OpenerDirector):
        self.subscription = subscription
        self.state = "Creating"  # Event Grid's provisioningState while it validates
        self.delivered = 0
        self.dropped = 0
        self._opener = opener
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"kv-events-{subscription.name}", daemon=True
        )
        self._thread.start()

    def describe(self) -> dict[str, Any]:
        s = self.subscription
        return {
            "name": s.name,
            "vault": s.vault,
            "endpoint": s.endpoint,
            "schema": s.schema,
            "event_types": list(s.event_types),
            "provisioning_state": self.state,
            "delivered": self.delivered,
            "dropped": self.dropped,
        }

    def offer(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.warning("event subscription %s: queue full, event dropped", self.subscription.name)

    def stop(self, *, wait: bool) -> None:
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if wait:
            self._thread.join(timeout=TIMEOUT_S + 1)

    # -- the delivery thread --------------------------------------------------------
    def _run(self) -> None:
        if not self._attempts(self._validate, "validation"):
            self.state = "Failed"
            log.warning(
                "event subscription %s: %s did not complete the validation handshake",
                self.subscription.name,
                self.subscription.endpoint,
            )
            return
        self.state = "Succeeded"
        while True:
            event = self._queue.get()
            if event is None or self._stopping.is_set():
                return
            if self._attempts(functools.partial(self._deliver, event), "delivery"):
                self.delivered += 1
            else:
                self.dropped += 1
                log.warning(
                    "event subscription %s: %s of %s dropped after %d attempts",
                    self.subscription.name,
                    event["eventType"],
                    event["subject"],
                    len(RETRY_DELAYS_S) + 1,
                )

    def _attempts(self, attempt: Callable[[int], int | None], what: str) -> bool:
        """Run ``attempt`` until it succeeds, may not be retried, or the retries run out."""
        for number, delay in enumerate((*RETRY_DELAYS_S, None)):
            status = attempt(number)
            if status is not None and 200 <= status < 300:
                return True
            if status in NOT_RETRIED or delay is None or self._stopping.wait(delay):
                return False
            log.info("event subscription %s: %s answered %s; retrying", what, status, delay)
        return False

    def _send(
        self, method: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int | None, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.subscription.endpoint, data=body, method=method, headers=headers
        )
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as response:
                return response.status, dict(response.headers.items()), response.read(65536)
        except urllib.error.HTTPError as error:
            with contextlib.closing(error):
                return error.code, {}, b""
        except (OSError, ValueError) as error:  # refused, reset, TLS, timeout
            log.info("event subscription %s: %s", self.subscription.name, type(error).__name__)
            return None, {}, b""

    def _validate(self, delivery_count: int) -> int | None:
        s = self.subscription
        if s.schema == CLOUD_EVENT_SCHEMA:
            status, headers, _ = self._send("OPTIONS", None, {"WebHook-Request-Origin": ORIGIN})
            allowed = {k.lower(): v for k, v in headers.items()}.get("webhook-allowed-origin", "")
            ok = status == 200 and allowed.strip() in (ORIGIN, "*")
            return 200 if ok else (status if status != 200 else 0)
        code = str(uuid.uuid4()).upper()
        event = {
            "id": str(uuid.uuid4()),
            "topic": f"/providers/Microsoft.KeyVault/vaults/{s.vault}",
            "subject": "",
            "eventType": VALIDATION_EVENT,
            "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "data": {"validationCode": code},
            "dataVersion": "2",
            "metadataVersion": "1",
        }
        status, _, body = self._send(
            "POST",
            json.dumps([event]).encode(),
            {
                "Content-Type": "application/json",
                "aeg-event-type": "SubscriptionValidation",
                "aeg-subscription-name": s.name.upper(),
                "aeg-delivery-count": str(delivery_count),
            },
        )
        if status != 200:
            return status
        try:
            answer = json.loads(body)
        except ValueError:
            return 0
        folded = {str(k).lower(): v for k, v in answer.items()} if isinstance(answer, dict) else {}
        return 200 if folded.get("validationresponse") == code else 0

    def _deliver(self, event: dict[str, Any], delivery_count: int) -> int | None:
        s = self.subscription
        headers = {
            "aeg-event-type": "Notification",
            "aeg-subscription-name": s.name.upper(),
            "aeg-delivery-count": str(delivery_count),
        }
        if s.schema == CLOUD_EVENT_SCHEMA:
            body = json.dumps(as_cloud_event(event)).encode()
            headers["Content-Type"] = "application/cloudevents+json; charset=utf-8"
        else:
            body = json.dumps([event]).encode()
            headers["Content-Type"] = "application/json"
        status, _, _ = self._send("POST", body, headers)
        return status


@dataclass(order=True)
class _Due:
    at: float
    kind: str = field(compare=False)
    source: _Source = field(compare=False)
    name: str = field(compare=False)
    version: str = field(compare=False)
    expires: int = field(compare=False)


class EventDelivery:
    """The emulator's Event Grid: subscriptions, publishing, delivery, expiry timers.

    :param subscriptions: from the configuration; more via :meth:`subscribe`.
    :keyword ca_path: a CA bundle trusted for https webhooks (the emulator's own).
    :keyword lookup: ``(vault, name) -> CurrentVersion | None``, read on the
        emulator's loop; without it expiry events are not sent.
    :keyword clock: epoch seconds (``exp`` is epoch seconds).
    """

    def __init__(
        self,
        subscriptions: Iterable[EventSubscription] = (),
        *,
        ca_path: str | None = None,
        lookup: Callable[[str, str], CurrentVersion | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # loopback, never through a proxy
            urllib.request.HTTPSHandler(context=context),
            _RefuseRedirects(),
        )
        self._lookup = lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._subscribers: dict[str, _Subscriber] = {}
        self._due: list[_Due] = []
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._timer: threading.Thread | None = None
        for subscription in subscriptions:
            self.subscribe(subscription)

    # -- subscriptions ----------------------------------------------------------------
    def subscribe(self, subscription: EventSubscription) -> dict[str, Any]:
        """Add a subscription (validated, then delivered to, on its own thread)."""
        with self._lock:
            if self._closed:
                raise ValueError("event delivery has stopped")
            if subscription.name in self._subscribers:
                raise ValueError(f"name: an event subscription {subscription.name!r} exists")
            if len(self._subscribers) >= MAX_SUBSCRIPTIONS:
                raise ValueError(f"at most {MAX_SUBSCRIPTIONS} event subscriptions")
            subscriber = _Subscriber(subscription, self._opener)
            self._subscribers[subscription.name] = subscriber
        return subscriber.describe()

    def unsubscribe(self, name: str) -> bool:
        with self._lock:
            subscriber = self._subscribers.pop(name, None)
        if subscriber is None:
            return False
        subscriber.stop(wait=False)  # called on the loop: the thread ends on its own
        return True

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            subscribers = list(self._subscribers.values())
        return [s.describe() for s in subscribers]

    # -- publishing -------------------------------------------------------------------
    def _wanted(self, vault: str) -> set[str]:
        """The event types some subscription of ``vault`` wants (empty: publish nothing)."""
        with self._lock:
            return {
                event_type
                for s in self._subscribers.values()
                if s.subscription.vault.lower() == vault.lower()
                for event_type in s.subscription.event_types
            }

    def _publish(self, source: _Source, event_type: str, event: dict[str, Any]) -> None:
        with self._lock:
            targets = [
                s
                for s in self._subscribers.values()
                if s.subscription.vault.lower() == source.name.lower()
                and event_type in s.subscription.event_types
            ]
        for subscriber in targets:
            subscriber.offer(event)

    def secret_version_created(
        self, vault: Vault, version_url: str, name: str, version: SecretVersion
    ) -> None:
        """A new version was written: publish it, and watch its ``exp`` (non-blocking).

        Without a subscription for the vault this costs one dict scan: nothing
        is built, and no ``exp`` is watched (as in Azure, a subscription gets
        events only for versions made after it).
        """
        wanted = self._wanted(vault.name)
        if not wanted:
            return
        source = _Source(vault.name, vault.resource_id, version_url)
        if NEW_VERSION in wanted:
            event = _event(
                source, NEW_VERSION, name, version.version, version.not_before, version.expires
            )
            self._publish(source, NEW_VERSION, event)
        watches_expiry = NEAR_EXPIRY in wanted or EXPIRED in wanted
        if version.expires is not None and self._lookup is not None and watches_expiry:
            self._watch(source, name, version.version, version.expires)

    # -- expiry -------------------------------------------------------------------------
    def _watch(self, source: _Source, name: str, version: str, expires: int) -> None:
        with self._lock:
            if self._closed:
                return
            for kind, at in ((NEAR_EXPIRY, expires - NEAR_EXPIRY_S), (EXPIRED, expires)):
                heapq.heappush(self._due, _Due(at, kind, source, name, version, expires))
            if self._timer is None:
                self._timer = threading.Thread(
                    target=self._run_timer, name="kv-events-expiry", daemon=True
                )
                self._timer.start()
            self._wake.notify()

    def _run_timer(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._due or self._due[0].at > self._clock()):
                    wait = self._due[0].at - self._clock() if self._due else None
                    self._wake.wait(None if wait is None else min(wait, 60.0))
                if self._closed:
                    return
                due = heapq.heappop(self._due)
            self._fire(due)

    def _fire(self, due: _Due) -> None:
        assert self._lookup is not None
        try:
            current = self._lookup(due.source.name, due.name)
        except Exception:  # the emulator is stopping; nothing to report
            log.debug("expiry check of %s skipped", due.name, exc_info=True)
            return
        if current is None or current.version != due.version:
            return  # replaced, deleted or disabled meanwhile
        if current.expires != due.expires:
            if current.expires is not None:  # given another exp: watch that one
                self._watch_again(due, current.expires)
            return
        event = _event(
            due.source, due.kind, due.name, due.version, current.not_before, current.expires
        )
        self._publish(due.source, due.kind, event)

    def _watch_again(self, due: _Due, expires: int) -> None:
        at = expires - NEAR_EXPIRY_S if due.kind == NEAR_EXPIRY else expires
        with self._lock:
            heapq.heappush(
                self._due, _Due(at, due.kind, due.source, due.name, due.version, expires)
            )
            self._wake.notify()

    def close(self) -> None:
        """Stop the timer and every delivery thread (undelivered events are dropped)."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers.values())
            self._subscribers.clear()
            self._wake.notify_all()
        for subscriber in subscribers:
            subscriber.stop(wait=True)
        if self._timer is not None:
            self._timer.join(timeout=5)


def handle_admin(
    delivery: EventDelivery,
    world: World,
    method: str,
    query: Mapping[str, str],
    body: Mapping[str, Any],
) -> Any:
    """``/_emulator/event-subscriptions``: GET lists, POST adds, DELETE ``?name=`` removes."""
    if method == "GET":
        return {"value": delivery.describe()}
    if method == "POST":
        subscription = EventSubscription.from_mapping(body, "body")
        if subscription.vault.lower() not in world.vaults:
            raise NotFound(f"body.vault: no vault named {subscription.vault!r}")
        return delivery.subscribe(subscription)
    if method == "DELETE":
        name = query.get("name", "")
        if not delivery.unsubscribe(name):
            raise NotFound(f"no event subscription named {name!r}")
        return {"ok": True}
    raise ValueError(f"event-subscriptions: {method} is not supported (GET, POST, DELETE)")
