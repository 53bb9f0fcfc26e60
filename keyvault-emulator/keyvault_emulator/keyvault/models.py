"""Vaults and their secrets: state and Azure's rules, with no HTTP or JSON.

A vault is both an ARM resource (its ``properties`` are kept in Azure's wire
shape, which the ARM layer owns) and a data-plane endpoint with secrets.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..persistence import Store

SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024
MAX_TAGS = 15
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
DAY_S = 86_400


@dataclass
class Vault:
    """A Key Vault resource. ``properties`` is ARM's wire shape (camelCase)."""

    name: str
    subscription_id: str
    resource_group: str
    location: str
    properties: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    port: int = 0
    created_at: float = field(default_factory=time.time)
    created_by: str = ""
    updated_at: float = field(default_factory=time.time)
    updated_by: str = ""
    deleted_at: float | None = None
    # While provisioningState is RegisteringDns: when it becomes Succeeded.
    dns_registered_at: float | None = None

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.KeyVault/vaults/{self.name}"
        )

    @property
    def tenant_id(self) -> str:
        return str(self.properties.get("tenantId", ""))

    @property
    def rbac_enabled(self) -> bool:
        return bool(self.properties.get("enableRbacAuthorization"))

    @property
    def purge_protection(self) -> bool:
        return bool(self.properties.get("enablePurgeProtection"))

    @property
    def retention_days(self) -> int:
        return int(self.properties.get("softDeleteRetentionInDays") or 90)

    @property
    def access_policies(self) -> list[dict[str, Any]]:
        return list(self.properties.get("accessPolicies") or [])

    @property
    def recovery_level(self) -> str:
        level = "Recoverable" if self.retention_days == 90 else "CustomizedRecoverable"
        return level if self.purge_protection else f"{level}+Purgeable"

    @property
    def scheduled_purge_at(self) -> float | None:
        if self.deleted_at is None:
            return None
        return self.deleted_at + self.retention_days * DAY_S

    def finish_provisioning(self, now: float) -> bool:
        """RegisteringDns becomes Succeeded once its time has come; True if it changed."""
        if self.dns_registered_at is None or now < self.dns_registered_at:
            return False
        self.properties = {**self.properties, "provisioningState": "Succeeded"}
        self.dns_registered_at = None
        return True

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "location": self.location,
            "properties": self.properties,
            "tags": self.tags,
            "port": self.port,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "deleted_at": self.deleted_at,
            "dns_registered_at": self.dns_registered_at,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Vault:
        return cls(**data)


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int

    def __repr__(self) -> str:  # never show the value
        return f"SecretVersion(version={self.version!r}, enabled={self.enabled})"


@dataclass
class Secret:
    name: str
    versions: list[SecretVersion] = field(default_factory=list)  # oldest first
    deleted_at: int | None = None
    scheduled_purge_at: int | None = None

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]

    def version(self, version: str) -> SecretVersion | None:
        if not version:
            return self.latest
        wanted = version.lower()
        for candidate in self.versions:
            if candidate.version == wanted:
                return candidate
        return None

    def to_record(self) -> dict[str, Any]:
        return {**self.head_record(), "versions": [v.__dict__ for v in self.versions]}

    def head_record(self) -> dict[str, Any]:
        """The secret without its versions (stored apart, one row each)."""
        return {
            "name": self.name,
            "deleted_at": self.deleted_at,
            "scheduled_purge_at": self.scheduled_purge_at,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Secret:
        return cls(
            name=data["name"],
            deleted_at=data.get("deleted_at"),
            scheduled_purge_at=data.get("scheduled_purge_at"),
            versions=[SecretVersion(**v) for v in data.get("versions", ())],
        )


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), for error messages."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def check_secret_name(name: str) -> None:
    # fullmatch: ``$`` would also match before a trailing newline ("name\n").
    if not SECRET_NAME.fullmatch(name):
        raise BadRequest(f"The request URI contains an invalid name: {printable(name)}")


def _check_tags(tags: dict[str, str] | None) -> None:
    if not tags:
        return
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Too many tags: {len(tags)}. A secret can have at most {MAX_TAGS} tags.")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise BadRequest("Tag names and values must be strings.")
        if len(key) > MAX_TAG_NAME or len(value) > MAX_TAG_VALUE:
            raise BadRequest(
                f"Tag names are limited to {MAX_TAG_NAME} characters and values to "
                f"{MAX_TAG_VALUE} characters."
            )


def _check_enabled(version: SecretVersion) -> None:
    if not version.enabled:
        raise Forbidden(
            "Operation get is not allowed on a disabled secret.", inner="SecretDisabled"
        )


def _not_found(name: str, version: str = "") -> NotFound:
    if version:
        message = f"A secret with (name/id) {name}/{version} was not found in this key vault."
    else:
        message = f"A secret with (name/id) {name} was not found in this key vault."
    message += (
        " If you recently deleted this secret you may be able to recover it using the correct"
        " recovery command. For help resolving this issue, please see"
        " https://go.microsoft.com/fwlink/?linkid=2125182"
    )
    return NotFound(message, code="SecretNotFound")


class _SortedNames:
    """Lower-case names kept in order, so a page is a binary search, not a sort."""

    def __init__(self, names: list[str]) -> None:
        self._names = sorted(names)

    def add(self, name: str) -> None:
        at = bisect.bisect_left(self._names, name)
        if at == len(self._names) or self._names[at] != name:
            self._names.insert(at, name)

    def discard(self, name: str) -> None:
        at = bisect.bisect_left(self._names, name)
        if at < len(self._names) and self._names[at] == name:
            del self._names[at]

    def after(self, name: str, count: int) -> list[str]:
        start = bisect.bisect_right(self._names, name)
        return self._names[start : start + count]

    def clear(self) -> None:
        self._names.clear()


class VaultSecrets:
    """The secrets of one vault, live and soft-deleted, with Key Vault's rules.

    Costs do not grow with the vault: a list page is a binary search in a
    sorted index, a new version is one stored row, and soft-deleted secrets
    wait in a heap by purge date, so expiring them looks only at the due ones.
    """

    KIND = "secret"

    def __init__(self, vault: Vault, store: Store, clock: Clock | None = None) -> None:
        self.vault = vault
        self._store = store
        self._clock = clock or Clock()
        self._live: dict[str, Secret] = {}
        self._deleted: dict[str, Secret] = {}
        self._purge_due: list[tuple[int, str]] = []  # (scheduled purge, name): a heap
        prefix = f"{vault.name.lower()}/"
        versions = {
            owner: [SecretVersion(**row) for _, row in rows]
            for owner, rows in itertools.groupby(
                store.load_children(prefix), key=lambda item: item[0]
            )
        }
        for key, data in store.load(self.KIND, prefix):
            secret = Secret.from_record(data)
            if "versions" in data:  # stored whole by an older emulator: store it anew
                self._store_whole(secret)
            else:
                secret.versions = versions.get(key, [])
            if secret.deleted_at is not None:
                self._deleted[secret.name.lower()] = secret
                self._schedule_purge(secret)
            else:
                self._live[secret.name.lower()] = secret
        self._live_names = _SortedNames(list(self._live))
        self._deleted_names = _SortedNames(list(self._deleted))

    # -- persistence ------------------------------------------------------
    def _key(self, secret: Secret) -> str:
        return f"{self.vault.name.lower()}/{secret.name.lower()}"

    def _save_head(self, secret: Secret) -> None:
        self._store.put(self.KIND, self._key(secret), secret.head_record())

    def _save_version(self, secret: Secret, version: SecretVersion) -> None:
        position = next(
            i for i in range(len(secret.versions) - 1, -1, -1) if secret.versions[i] is version
        )
        self._store.put_child(self._key(secret), position, version.__dict__)

    def _store_whole(self, secret: Secret) -> None:
        self._store.delete_children(self._key(secret))
        for position, version in enumerate(secret.versions):
            self._store.put_child(self._key(secret), position, version.__dict__)
        self._save_head(secret)

    def _forget(self, secret: Secret) -> None:
        self._store.delete(self.KIND, self._key(secret))
        self._store.delete_children(self._key(secret))

    def _schedule_purge(self, secret: Secret) -> None:
        heapq.heappush(self._purge_due, (secret.scheduled_purge_at or 0, secret.name.lower()))

    def _to_live(self, secret: Secret) -> None:
        key = secret.name.lower()
        self._deleted.pop(key, None)
        self._deleted_names.discard(key)
        self._live[key] = secret
        self._live_names.add(key)

    def _to_deleted(self, secret: Secret) -> None:
        key = secret.name.lower()
        self._live.pop(key, None)
        self._live_names.discard(key)
        self._deleted[key] = secret
        self._deleted_names.add(key)
        self._schedule_purge(secret)

    def drop_all(self) -> None:
        """Forget every secret (the vault itself was purged)."""
        for secret in [*self._live.values(), *self._deleted.values()]:
            self._forget(secret)
        self._live.clear()
        self._deleted.clear()
        self._live_names.clear()
        self._deleted_names.clear()
        self._purge_due.clear()

    # -- reads --------------------------------------------------------------
    def _live_secret(self, name: str) -> Secret:
        check_secret_name(name)
        secret = self._live.get(name.lower())
        if secret is None:
            raise _not_found(name)
        return secret

    def get(self, name: str, version: str = "") -> tuple[Secret, SecretVersion]:
        secret = self._live_secret(name)
        found = secret.version(version)
        if found is None:
            raise _not_found(name, version)
        _check_enabled(found)
        return secret, found

    def live_page(self, after: str, size: int) -> list[Secret]:
        """Up to ``size`` live secrets named (lower-cased) after ``after``, in order."""
        return [self._live[key] for key in self._live_names.after(after, size)]

    def versions(self, name: str) -> tuple[Secret, list[SecretVersion]]:
        """A live secret's versions; for a name that never existed, none (Key Vault: 200).

        A soft-deleted name still answers ``SecretNotFound``: guessed, as the
        recordings of real traffic show only a name that never existed.
        """
        check_secret_name(name)
        self._expire_deleted()
        key = name.lower()
        if key not in self._live and key not in self._deleted:
            return Secret(name=name), []  # not stored: listing creates nothing
        secret = self._live_secret(name)
        return secret, sorted(secret.versions, key=lambda v: v.version)

    def get_deleted(self, name: str) -> Secret:
        check_secret_name(name)
        self._expire_deleted()
        secret = self._deleted.get(name.lower())
        if secret is None:
            raise NotFound(f"Deleted Secret not found: {name}", code="SecretNotFound")
        return secret

    def read_deleted(self, name: str) -> Secret:
        """A deleted secret, as ``GET /deletedsecrets/{name}`` shows it.

        Refused (403 ``SecretDisabled``) when its current version is disabled, as
        Key Vault does; the SDK's delete poller takes that 403 as done. Recover,
        purge and the deleted list still see it. That the *current* version is
        the one that counts is guessed (it is the one a live ``get`` reads).
        """
        secret = self.get_deleted(name)
        _check_enabled(secret.latest)
        return secret

    def deleted_page(self, after: str, size: int) -> list[Secret]:
        """Up to ``size`` soft-deleted secrets named after ``after``, in order."""
        self._expire_deleted()
        return [self._deleted[key] for key in self._deleted_names.after(after, size)]

    # -- writes -------------------------------------------------------------
    def set(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        enabled: bool = True,
        not_before: int | None = None,
        expires: int | None = None,
    ) -> tuple[Secret, SecretVersion]:
        check_secret_name(name)
        if not isinstance(value, str):
            raise BadRequest("The secret value must be a string.")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise BadRequest(
                f"The secret value is too large: the maximum is {MAX_VALUE_BYTES} bytes."
            )
        _check_tags(tags)
        self._expire_deleted()
        key = name.lower()
        if key in self._deleted:
            raise Conflict(
                f"Secret {name} is currently in a deleted but recoverable state, and its name "
                "cannot be reused; in this state, the secret can be recovered or purged.",
                inner="ObjectIsDeletedButRecoverable",
            )
        now = int(self._clock.now())
        version = SecretVersion(
            version=uuid.uuid4().hex,
            value=value,
            content_type=content_type,
            tags=dict(tags) if tags else None,
            enabled=enabled,
            not_before=not_before,
            expires=expires,
            created=now,
            updated=now,
        )
        secret = self._live.get(key)
        if secret is None:
            secret = Secret(name=name)
            self._to_live(secret)
            self._save_head(secret)
        secret.versions.append(version)
        self._save_version(secret, version)
        return secret, version

    def update(
        self, name: str, version: str, changes: dict[str, Any]
    ) -> tuple[Secret, SecretVersion]:
        """Change a version's properties in place; ``changes`` holds only what was sent."""
        secret = self._live_secret(name)
        found = secret.version(version)
        if found is None:
            raise _not_found(name, version)
        if "tags" in changes:
            _check_tags(changes["tags"])
            found.tags = dict(changes["tags"]) if changes["tags"] else None
        for field_name in ("content_type", "enabled", "not_before", "expires"):
            if field_name in changes:
                setattr(found, field_name, changes[field_name])
        found.updated = int(self._clock.now())
        self._save_version(secret, found)
        return secret, found

    def delete(self, name: str) -> Secret:
        secret = self._live_secret(name)
        now = int(self._clock.now())
        secret.deleted_at = now
        secret.scheduled_purge_at = now + self.vault.retention_days * DAY_S
        self._to_deleted(secret)
        self._save_head(secret)
        return secret

    def recover(self, name: str) -> Secret:
        secret = self.get_deleted(name)
        secret.deleted_at = None
        secret.scheduled_purge_at = None
        self._to_live(secret)
        self._save_head(secret)
        return secret

    def purge(self, name: str) -> None:
        secret = self.get_deleted(name)
        if self.vault.purge_protection:
            raise Forbidden(
                f'Operation "purge" is not allowed on secret {name} because purge protection '
                "is enabled for this vault. Key Vault service will automatically purge it after "
                "the retention period has passed.",
                inner="PurgeProtectionEnabled",  # guessed: Azure's inner code is undocumented
            )
        del self._deleted[name.lower()]
        self._deleted_names.discard(name.lower())
        self._forget(secret)

    def restore(self, secret: Secret) -> Secret:
        key = secret.name.lower()
        self._expire_deleted()
        if key in self._live:
            raise Conflict(
                f"Secret {secret.name} already exists. Restore is only possible when no secret "
                "with that name exists.",
                inner="ObjectAlreadyExists",  # guessed from the service's behaviour
            )
        if key in self._deleted:
            raise Conflict(
                f"Secret {secret.name} is currently in a deleted but recoverable state, and its "
                "name cannot be reused; in this state, the secret can be recovered or purged.",
                inner="ObjectIsDeletedButRecoverable",
            )
        secret.deleted_at = None
        secret.scheduled_purge_at = None
        self._to_live(secret)
        self._store_whole(secret)
        return secret

    def _expire_deleted(self) -> None:
        """Soft-deleted secrets past their scheduled purge date are gone for good."""
        now = self._clock.now()
        while self._purge_due and self._purge_due[0][0] <= now:
            due, key = heapq.heappop(self._purge_due)
            secret = self._deleted.get(key)
            # Entries for a secret recovered (or deleted again) since are stale.
            if secret is not None and (secret.scheduled_purge_at or 0) == due:
                del self._deleted[key]
                self._deleted_names.discard(key)
                self._forget(secret)
