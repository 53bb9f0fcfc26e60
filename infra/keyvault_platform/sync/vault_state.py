"""The vault as the sync sees it: names, tags and dates, never a value.

**Reading the vault** (:func:`read_vault_state`): one paged
``list_properties_of_secrets`` and one paged ``list_deleted_secrets``. Both
return tags, never values, and each secret's current version id, which a
plan names so that its apply can refuse a secret changed since.

**Re-reading one secret** (:func:`newest_versions`): right before a write
that must not race with a hand edit, the secret's versions are listed
(``list_properties_of_secret_versions``: tags and dates, never a value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyvault_platform.core.saved_plan import record
from keyvault_platform.sync.manifests import (
    FINGERPRINT_TAG,
    OWNER_TAG,
    OWNER_VALUE,
)
from keyvault_platform.sync.pacing import Budget, VaultPacer

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The vault as listed (metadata only)


@dataclass(frozen=True)
class ActualSecret:
    """A secret's current version as ``list_properties_of_secrets`` shows it."""

    name: str
    tags: Mapping[str, str]
    content_type: str | None
    enabled: bool
    expires_on: datetime | None
    not_before: datetime | None
    created_on: datetime | None
    managed: bool = False  # backs a certificate: never ours to touch
    #: The version id; ``list_properties_of_secrets`` names none (its ids have
    #: no version), ``list_properties_of_secret_versions`` does.
    version: str | None = None
    updated_on: datetime | None = None

    @property
    def owned(self) -> bool:
        return self.tags.get(OWNER_TAG) == OWNER_VALUE

    def is_same_version(self, other: ActualSecret) -> bool:
        """Whether ``other`` is this version (seen again), as far as metadata tells.

        By id when both have one; else by creation second and the sync's
        tags (ownership and value fingerprint), which every write changes.
        """
        if self.version is not None and other.version is not None:
            return self.version == other.version
        return (
            _created_s(self) == _created_s(other)
            and self.tags.get(OWNER_TAG) == other.tags.get(OWNER_TAG)
            and self.tags.get(FINGERPRINT_TAG) == other.tags.get(FINGERPRINT_TAG)
        )


@dataclass(frozen=True)
class DeletedState:
    """A soft-deleted secret as ``list_deleted_secrets`` shows it."""

    name: str
    tags: Mapping[str, str]
    actual: ActualSecret
    deleted_on: datetime | None
    scheduled_purge_on: datetime | None

    @property
    def owned(self) -> bool:
        return self.tags.get(OWNER_TAG) == OWNER_VALUE


@dataclass(frozen=True)
class VaultState:
    """Active and soft-deleted secrets, keyed by lower-cased name."""

    secrets: Mapping[str, ActualSecret]
    deleted: Mapping[str, DeletedState]
    list_requests: int = 0


def _actual(properties: Any) -> ActualSecret:
    return ActualSecret(
        name=properties.name,
        tags=dict(properties.tags or {}),
        content_type=properties.content_type,
        enabled=properties.enabled is not False,
        expires_on=properties.expires_on,
        not_before=properties.not_before,
        created_on=properties.created_on,
        managed=bool(getattr(properties, "managed", False)),
        version=properties.version,
        updated_on=getattr(properties, "updated_on", None),
    )


def secret_record(actual: ActualSecret) -> dict[str, Any]:
    """What a saved plan records of one listed version (:func:`saved_plan.record`).

    Its times are shown; its tags go into the digest only.
    """
    return record(
        name=actual.name,
        created=actual.created_on,
        updated=actual.updated_on,
        _enabled=actual.enabled,
        _content_type=actual.content_type,
        _expires=actual.expires_on,
        _not_before=actual.not_before,
        _managed=actual.managed,
        _tags=dict(sorted(actual.tags.items())),
    )


def deleted_record(deleted: DeletedState) -> dict[str, Any]:
    """What a saved plan records of one soft-deleted secret."""
    return record(
        name=deleted.name,
        deleted=deleted.deleted_on,
        _purge=deleted.scheduled_purge_on,
        _version=secret_record(deleted.actual)["digest"],
    )


def _paged(
    pager: Any, pacer: VaultPacer | None, before_page: Callable[[], None] | None = None
) -> Iterator[tuple[int, Any]]:
    """Items of an ``ItemPaged``, pacing each page request; yields (page number, item)."""
    pages = pager.by_page()
    number = 0
    while True:
        if pacer is not None:
            pacer.acquire(Budget.OTHER)
        if before_page is not None:
            before_page()
        page = next(pages, None)
        if page is None:
            return
        number += 1
        for item in page:
            yield number, item


def list_secrets(
    client: Any, *, pacer: VaultPacer | None = None, hook: Callable[[Any], None] | None = None
) -> tuple[dict[str, ActualSecret], int]:
    """Active secrets by lower-cased name (one paged listing), and the pages it took."""
    extra = {"raw_response_hook": hook} if hook else {}
    secrets: dict[str, ActualSecret] = {}
    pages = 0
    for pages, properties in _paged(client.list_properties_of_secrets(**extra), pacer):  # noqa: B007
        secrets[properties.name.lower()] = _actual(properties)
    return secrets, max(pages, 1)


def read_vault_state(
    client: Any, *, pacer: VaultPacer | None = None, hook: Callable[[Any], None] | None = None
) -> VaultState:
    """List the vault's secrets and deleted secrets: metadata and tags, never values.

    Needs ``secrets/readMetadata/action`` (Key Vault Secrets Officer has it).
    """
    extra = {"raw_response_hook": hook} if hook else {}
    secrets, list_requests = list_secrets(client, pacer=pacer, hook=hook)
    deleted: dict[str, DeletedState] = {}
    pages = 0
    for pages, item in _paged(client.list_deleted_secrets(**extra), pacer):  # noqa: B007
        props = item.properties
        deleted[item.name.lower()] = DeletedState(
            name=item.name,
            tags=dict(props.tags or {}),
            actual=_actual(props),
            deleted_on=item.deleted_date,
            scheduled_purge_on=item.scheduled_purge_date,
        )
    list_requests += max(pages, 1)
    return VaultState(secrets, deleted, list_requests)


def newest_versions(
    client: Any,
    name: str,
    *,
    before_page: Callable[[], None] | None = None,
    hook: Callable[[Any], None] | None = None,
    request_options: Mapping[str, Any] | None = None,
) -> tuple[ActualSecret, ...]:
    """The secret's latest version, from a listing of its versions; no value is read.

    Key Vault's "latest" is the version created last, and ``created`` has a
    one-second resolution: more than one version is returned when several
    were created in the same second as the newest (which of them is latest
    cannot be told). Empty when the secret does not exist (any more).
    ``before_page`` runs before each page request (pacing); ``request_options``
    go to each request (azure-core per-call options, such as ``retry_total``).
    """
    from azure.core.exceptions import ResourceNotFoundError

    extra: dict[str, Any] = {"raw_response_hook": hook} if hook else {}
    extra.update(request_options or {})
    versions: list[ActualSecret] = []
    try:
        for _, properties in _paged(
            client.list_properties_of_secret_versions(name, **extra), None, before_page
        ):
            versions.append(_actual(properties))
    except ResourceNotFoundError:
        return ()
    if not versions:
        return ()
    newest = max(_created_s(v) for v in versions)
    return tuple(v for v in versions if _created_s(v) == newest)


def _created_s(version: ActualSecret) -> int:
    return int(version.created_on.timestamp()) if version.created_on is not None else 0
