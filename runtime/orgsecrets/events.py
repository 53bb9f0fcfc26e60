"""Key Vault's Event Grid events, turned into exact cache invalidations.

Key Vault publishes ``Microsoft.KeyVault.SecretNewVersionCreated`` when a
secret gets a new version, ``SecretNearExpiry`` 30 days before the current
version's ``exp`` and ``SecretExpired`` when it has passed. Event Grid
delivers them in its own schema or as CloudEvents 1.0; both carry the same
``data`` (``Id``, ``VaultName``, ``ObjectType``, ``ObjectName``, ``Version``,
``NBF``, ``EXP``). :class:`RotationEvents` reads a delivery (one event or a
batch; a dict, a list, JSON text or bytes), checks every event, and then
invalidates exactly the rotated name in the store: the next ``get`` reads
the new version instead of serving the old one until the TTL runs out.

Example (any web framework; the Functions example uses it too)::

    events = RotationEvents(store)            # the store's own vault only
    outcome = events.handle(request_body)
    if outcome.validation_response is not None:   # Event Grid's handshake
        return json_response(outcome.validation_response)

Checks, all before anything is invalidated (a bad batch changes nothing):

* each event is an Event Grid event (``eventType``) or a CloudEvent
  (``specversion`` 1.0) with the fields those schemas require;
* a Key Vault secret event names a secret (``ObjectType`` ``Secret``), a
  valid Key Vault secret and vault name, and an ``Id`` on that secret and
  version; ``subject`` and ``topic``/``source`` agree with ``data``;
* the event is for the store's vault: ``Id`` has the vault URL's scheme,
  host and port, and (for an Azure host) ``VaultName`` is the host's vault.
  An event for another vault is refused: Microsoft's guidance is never to
  assume which vault a delivery comes from.

Events of other types (keys, certificates, other services) and secrets
outside the ``{org}--{name}`` / ``GLOBAL--{name}`` naming rule are ignored
and reported, not refused: one subscription may carry more than this app
reads. Errors name the event (``event[2].data.ObjectName``) and what is
wrong, never a field's content: a delivery is untrusted input.

The handshakes: :func:`subscription_validation_response` answers Event
Grid's ``SubscriptionValidationEvent`` (``RotationEvents.handle`` does it
for you), and :func:`webhook_validation_headers` answers the CloudEvents
abuse-protection ``OPTIONS`` request (``WebHook-Request-Origin``).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from .config import AZURE_VAULT_DOMAINS
from .errors import ConfigurationError, InvalidSecretNameError, OrgSecretsError
from .naming import GLOBAL_SCOPE, SecretName, parse_secret_name

if TYPE_CHECKING:
    from .store import AsyncSecretStore, SecretStore

__all__ = [
    "EVENT_GRID_ORIGIN",
    "SECRET_EVENT_TYPES",
    "SUBSCRIPTION_VALIDATION_EVENT",
    "EventSchema",
    "HandledEvents",
    "IgnoredEvent",
    "InvalidEventError",
    "RotationEvents",
    "SecretEvent",
    "SubscriptionValidation",
    "parse_events",
    "subscription_validation_response",
    "webhook_validation_headers",
]

logger = logging.getLogger("orgsecrets")

SECRET_NEW_VERSION_CREATED: Final = "Microsoft.KeyVault.SecretNewVersionCreated"
SECRET_NEAR_EXPIRY: Final = "Microsoft.KeyVault.SecretNearExpiry"
SECRET_EXPIRED: Final = "Microsoft.KeyVault.SecretExpired"
SECRET_EVENT_TYPES: Final = frozenset(
    {SECRET_NEW_VERSION_CREATED, SECRET_NEAR_EXPIRY, SECRET_EXPIRED}
)
"""The events that invalidate: each may mean the value a cache holds is no longer current."""

SUBSCRIPTION_VALIDATION_EVENT: Final = "Microsoft.EventGrid.SubscriptionValidationEvent"
EVENT_GRID_ORIGIN: Final = "eventgrid.azure.net"
"""What Event Grid sends as ``WebHook-Request-Origin`` in the CloudEvents handshake."""

MAX_PAYLOAD_BYTES: Final = 1024 * 1024
"""Event Grid delivers at most 1 MB a request; anything larger is not from it."""

# Key Vault's own rules: vault names 3-24 of [0-9a-zA-Z-], secret names 1-127.
_VAULT_NAME = re.compile(r"[0-9a-zA-Z-]{3,24}")
_SECRET_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_VERSION = re.compile(r"[0-9a-zA-Z]{1,64}")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class InvalidEventError(OrgSecretsError, ValueError):
    """A delivery that is not a well-formed event for this vault.

    ``location`` says where (``event[1].data.Id``); the message says what is
    wrong and never repeats the delivery's content.
    """

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(f"{location}: {problem}")
        self.location = location
        self.problem = problem


class EventSchema(enum.Enum):
    """How Event Grid shaped the event (the subscription's ``eventDeliverySchema``)."""

    EVENT_GRID = "EventGridSchema"
    CLOUD_EVENTS = "CloudEventSchemaV1_0"


@dataclass(frozen=True, slots=True)
class SecretEvent:
    """One Key Vault secret event, checked. It never holds a secret value (events carry none)."""

    event_type: str
    event_id: str
    schema: EventSchema
    vault_name: str
    object_name: str
    """The secret's name in the vault, as sent (``contoso--db-password``)."""
    version: str
    secret_id: str
    """``data.Id``: ``https://<vault>/secrets/<name>/<version>``."""
    not_before: float | None
    expires: float | None
    secret: SecretName | None
    """The name under the naming rule, or None for a secret outside it."""


@dataclass(frozen=True, slots=True)
class SubscriptionValidation:
    """Event Grid's ``SubscriptionValidationEvent``: echo ``validation_code`` to subscribe."""

    event_id: str
    validation_code: str
    validation_url: str | None


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """An event that was well formed but not one this handler acts on, and why."""

    location: str
    event_type: str
    reason: str


ParsedEvent = SecretEvent | SubscriptionValidation | IgnoredEvent


@dataclass(frozen=True, slots=True)
class HandledEvents:
    """What :meth:`RotationEvents.handle` did with one delivery."""

    invalidated: tuple[str, ...]
    """Vault names of the secrets the store forgot, in delivery order, once each."""
    ignored: tuple[IgnoredEvent, ...]
    validation_response: dict[str, str] | None
    """The body to answer a subscription validation with, or None."""


Payload = bytes | bytearray | str | Mapping[str, Any] | Sequence[Mapping[str, Any]]


# -- parsing ------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(payload: bytes | bytearray) -> str | None:
    try:
        return bytes(payload).decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # raised by the caller, outside this except: no payload in the context


def _load_json(payload: bytes | bytearray | str) -> Any:
    size = len(payload) if isinstance(payload, bytes | bytearray) else len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidEventError(
            "delivery", f"{size} bytes, more than Event Grid's {MAX_PAYLOAD_BYTES}"
        )
    text = _decode(payload) if isinstance(payload, bytes | bytearray) else payload
    if text is None:
        raise InvalidEventError("delivery", "not UTF-8 text")
    problem: str | None = None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        problem = "JSON nested too deeply"
    except ValueError as error:
        # JSONDecodeError's message holds only a position, never the document.
        line, column = getattr(error, "lineno", None), getattr(error, "colno", None)
        problem = "not JSON" + (f" (line {line}, column {column})" if line else "")
    raise InvalidEventError("delivery", problem)


def _lower_keys(mapping: Mapping[str, Any], location: str) -> dict[str, Any]:
    """Keys compared without case and surrounding blanks (Microsoft's own samples vary)."""
    folded: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise InvalidEventError(location, "a field name is not a string")
        name = key.strip().lower()
        if name in folded:
            raise InvalidEventError(location, f"field {key.strip()!r} appears twice")
        folded[name] = value
    return folded


def _text(fields: Mapping[str, Any], key: str, location: str, *, required: bool = True) -> str:
    value = fields.get(key.lower())
    if value is None:
        if required:
            raise InvalidEventError(f"{location}.{key}", "missing")
        return ""
    if not isinstance(value, str):
        raise InvalidEventError(f"{location}.{key}", f"expected a string, got {_kind(value)}")
    value = value.strip()
    if required and not value:
        raise InvalidEventError(f"{location}.{key}", "empty")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _epoch(fields: Mapping[str, Any], key: str, location: str) -> float | None:
    value = fields.get(key.lower())
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEventError(f"{location}.{key}", f"expected seconds, got {_kind(value)}")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds == seconds or seconds in (float("inf"), float("-inf")):
        raise InvalidEventError(f"{location}.{key}", "expected seconds since 1970")
    return seconds


def _envelope(
    event: Any, location: str
) -> tuple[EventSchema, dict[str, Any], str, str, str, str, Any]:
    """Schema, folded fields, type, id, subject, topic and data of one event."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(location, f"expected an event object, got {_kind(event)}")
    fields = _lower_keys(event, location)
    if "specversion" in fields:
        version = _text(fields, "specversion", location)
        if version != "1.0":
            raise InvalidEventError(f"{location}.specversion", "only CloudEvents 1.0 is read")
        if "data_base64" in fields:
            raise InvalidEventError(
                f"{location}.data_base64", "binary data: Key Vault events carry JSON data"
            )
        schema = EventSchema.CLOUD_EVENTS
        event_type = _text(fields, "type", location)
        topic = _text(fields, "source", location)
    elif "eventtype" in fields:
        schema = EventSchema.EVENT_GRID
        event_type = _text(fields, "eventType", location)
        topic = _text(fields, "topic", location, required=False)
        _text(fields, "dataVersion", location, required=False)
    else:
        raise InvalidEventError(
            location,
            "neither an Event Grid event (eventType) nor a CloudEvent (specversion)",
        )
    event_id = _text(fields, "id", location)
    subject = _text(fields, "subject", location, required=False)
    return schema, fields, event_type, event_id, subject, topic, fields.get("data")


def _parse_one(event: Any, location: str) -> ParsedEvent:
    schema, _fields, event_type, event_id, subject, topic, data = _envelope(event, location)
    if event_type == SUBSCRIPTION_VALIDATION_EVENT:
        if not isinstance(data, Mapping):
            raise InvalidEventError(f"{location}.data", "expected an object")
        folded = _lower_keys(data, f"{location}.data")
        return SubscriptionValidation(
            event_id=event_id,
            validation_code=_text(folded, "validationCode", f"{location}.data"),
            validation_url=_text(folded, "validationUrl", f"{location}.data", required=False)
            or None,
        )
    if event_type not in SECRET_EVENT_TYPES:
        return IgnoredEvent(location, event_type, "not a Key Vault secret event")
    return _secret_event(schema, event_type, event_id, subject, topic, data, location)


def _secret_event(
    schema: EventSchema,
    event_type: str,
    event_id: str,
    subject: str,
    topic: str,
    data: Any,
    location: str,
) -> SecretEvent:
    where = f"{location}.data"
    if not isinstance(data, Mapping):
        raise InvalidEventError(where, "missing" if data is None else "expected an object")
    fields = _lower_keys(data, where)
    object_type = _text(fields, "ObjectType", where)
    if object_type.lower() != "secret":
        raise InvalidEventError(f"{where}.ObjectType", "a secret event must name a Secret")
    vault_name = _text(fields, "VaultName", where)
    if not _VAULT_NAME.fullmatch(vault_name):
        raise InvalidEventError(f"{where}.VaultName", "not a Key Vault name (3-24 of 0-9a-zA-Z-)")
    object_name = _text(fields, "ObjectName", where)
    if not _SECRET_NAME.fullmatch(object_name):
        raise InvalidEventError(
            f"{where}.ObjectName", "not a Key Vault secret name (1-127 of 0-9a-zA-Z-)"
        )
    version = _text(fields, "Version", where)
    if not _VERSION.fullmatch(version):
        raise InvalidEventError(f"{where}.Version", "not a secret version")
    secret_id = _text(fields, "Id", where)
    _check_secret_id(secret_id, object_name, version, f"{where}.Id")
    if subject and subject.lower() != object_name.lower():
        raise InvalidEventError(f"{location}.subject", "does not name data.ObjectName")
    vault_suffix = f"/providers/microsoft.keyvault/vaults/{vault_name.lower()}"
    if topic and not topic.lower().endswith(vault_suffix):
        field = "source" if schema is EventSchema.CLOUD_EVENTS else "topic"
        raise InvalidEventError(f"{location}.{field}", "is not the vault data.VaultName names")
    try:
        secret: SecretName | None = parse_secret_name(object_name)
    except InvalidSecretNameError:
        secret = None
    return SecretEvent(
        event_type=event_type,
        event_id=event_id,
        schema=schema,
        vault_name=vault_name,
        object_name=object_name,
        version=version,
        secret_id=secret_id,
        not_before=_epoch(fields, "NBF", where),
        expires=_epoch(fields, "EXP", where),
        secret=secret,
    )


def _check_secret_id(secret_id: str, name: str, version: str, location: str) -> None:
    parts = urlsplit(secret_id)
    segments = parts.path.strip("/").split("/")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidEventError(location, "not an https URL of a vault")
    if len(segments) != 3 or segments[0] != "secrets":
        raise InvalidEventError(location, "not a secret version's id (/secrets/<name>/<version>)")
    if segments[1].lower() != name.lower() or segments[2].lower() != version.lower():
        raise InvalidEventError(location, "does not match data.ObjectName and data.Version")


def _located(payload: Payload) -> list[tuple[str, ParsedEvent]]:
    document = _load_json(payload) if isinstance(payload, bytes | bytearray | str) else payload
    if isinstance(document, Mapping):
        return [("event", _parse_one(document, "event"))]
    if isinstance(document, Sequence) and not isinstance(document, str):
        if not document:
            raise InvalidEventError("delivery", "an empty batch")
        return [(f"event[{i}]", _parse_one(e, f"event[{i}]")) for i, e in enumerate(document)]
    raise InvalidEventError("delivery", f"expected an event or an array, got {_kind(document)}")


def parse_events(payload: Payload) -> tuple[ParsedEvent, ...]:
    """Every event of one delivery, checked; the first problem raises.

    ``payload`` is what Event Grid POSTed (bytes or text: a JSON array, or one
    CloudEvent object) or that JSON already parsed (a dict or a list of dicts).

    :raises InvalidEventError: not JSON, not an event, or a malformed Key Vault
        secret event; the message names the event and field.
    """
    return tuple(event for _, event in _located(payload))


# -- handshakes -----------------------------------------------------------------------


def subscription_validation_response(validation: SubscriptionValidation) -> dict[str, str]:
    """The JSON body that completes Event Grid's synchronous handshake."""
    return {"validationResponse": validation.validation_code}


def webhook_validation_headers(
    request_headers: Mapping[str, str],
    *,
    allowed_origins: Sequence[str] | None = (EVENT_GRID_ORIGIN,),
) -> dict[str, str] | None:
    """The headers that answer a CloudEvents abuse-protection ``OPTIONS`` request.

    Returns None when the request is no validation request, or comes from an
    origin not in ``allowed_origins`` (None allows any): answer those with
    400 or 403 and Event Grid never delivers. Header names are matched
    without case.
    """
    folded = {k.lower(): v for k, v in request_headers.items()}
    origin = (folded.get("webhook-request-origin") or "").strip()
    if not origin:
        return None
    if allowed_origins is not None and origin.lower() not in {o.lower() for o in allowed_origins}:
        return None
    headers = {"WebHook-Allowed-Origin": origin, "Allow": "POST, OPTIONS"}
    if "webhook-request-rate" in folded:
        headers["WebHook-Allowed-Rate"] = "*"
    return headers


# -- the handler ------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1
    return scheme, host, port


def _azure_vault_name(host: str) -> str | None:
    for suffix in AZURE_VAULT_DOMAINS:
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return None


class RotationEvents:
    """Invalidates a store's cache from Key Vault's secret events, for one vault.

    The store is told through its public ``invalidate(name, org=...)``: a
    ``GLOBAL--{name}`` event forgets the GLOBAL entry (and every org's answer
    that fell back to it); a ``{org}--{name}`` event forgets that org's entry,
    and with it the GLOBAL one the org would fall back to (``invalidate``'s
    unit is a lookup), which costs one extra read, never a stale value.

    :param store: the :class:`SecretStore` or :class:`AsyncSecretStore` to keep current.
    :keyword vault_url: the vault whose events count; default: the store's own.

    :raises ConfigurationError: neither the store nor ``vault_url`` names a vault.
    """

    def __init__(
        self, store: SecretStore | AsyncSecretStore, *, vault_url: str | None = None
    ) -> None:
        url = vault_url if vault_url is not None else store.vault_url
        if not url:
            raise ConfigurationError(
                "rotation events name a vault, and the store reads none: set "
                "AZURE_KEY_VAULT_URL (or pass vault_url=)"
            )
        self._store = store
        self._vault_url = url
        self._origin = _origin(url)
        self._vault_name = _azure_vault_name(self._origin[1])

    @property
    def vault_url(self) -> str:
        return self._vault_url

    def _check_vault(self, event: SecretEvent, location: str) -> None:
        if _origin(event.secret_id) != self._origin:
            raise InvalidEventError(f"{location}.data.Id", "is not a secret of this store's vault")
        if self._vault_name is not None and event.vault_name.lower() != self._vault_name:
            raise InvalidEventError(
                f"{location}.data.VaultName", "is not the vault this store reads"
            )

    def handle(self, payload: Payload) -> HandledEvents:
        """Check one delivery, then invalidate what its secret events name.

        Nothing is invalidated unless every event passes. A subscription
        validation is answered in ``validation_response``.

        :raises InvalidEventError: a malformed event, or one for another vault.
        """
        names: list[SecretName] = []
        ignored: list[IgnoredEvent] = []
        validation: dict[str, str] | None = None
        for location, event in _located(payload):
            if isinstance(event, IgnoredEvent):
                ignored.append(event)
            elif isinstance(event, SubscriptionValidation):
                validation = subscription_validation_response(event)
            else:
                self._check_vault(event, location)
                if event.secret is None:
                    ignored.append(
                        IgnoredEvent(location, event.event_type, "outside the naming rule")
                    )
                elif event.secret not in names:
                    names.append(event.secret)
        for name in names:
            org = None if name.scope == GLOBAL_SCOPE else name.scope
            self._store.invalidate(name.name, org=org)
            logger.info("rotation event: invalidated secret %r", name.vault_name)
        return HandledEvents(
            invalidated=tuple(n.vault_name for n in names),
            ignored=tuple(ignored),
            validation_response=validation,
        )
