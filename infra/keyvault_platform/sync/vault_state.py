"""The vault as the sync sees it: names, tags and dates, never a value.

**Reading the vault** (:func:`read_vault_state`): one paged
``list_properties_of_secrets`` and one paged ``list_deleted_secrets``. Both
return tags, never values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyvault_platform.sync.manifests import (
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

    @property
    def owned(self) -> bool:
        return self.tags.get(OWNER_TAG) == OWNER_VALUE


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
    )


def _paged(pager: Any, pacer: VaultPacer | None) -> Iterator[tuple[int, Any]]:
    """Items of an ``ItemPaged``, pacing each page request; yields (page number, item)."""
    pages = pager.by_page()
    number = 0
    while True:
        if pacer is not None:
            pacer.acquire(Budget.OTHER)
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
