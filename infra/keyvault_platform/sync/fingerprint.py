"""Keyed fingerprints of secret values, so the sync can diff without reading values.

The sync tags each secret version it writes with ``value-fingerprint``::

    v1:<key id>:<base64url HMAC-SHA256(key, "v1" NUL lower(name) NUL value)>

``list_properties_of_secrets`` returns tags but never values, so one paged
listing tells the sync which secrets still hold the manifest's value.

Why keyed: tags are readable by anyone with metadata rights (Key Vault
Reader, ``secrets/readMetadata/action``), who may not read values. A plain
SHA-256 of a weak value ("Summer2026!") is guessed offline in seconds; an
HMAC is not, without the key. The secret's name is in the MAC too, so equal
values in two secrets do not show as equal tags.

Where the key lives: **in the pipeline, not in the vault.** The sync reads
it from the ``SYNC_FINGERPRINT_KEY`` environment variable, set from the
pipeline's own secret store (a GitHub Actions secret or an Azure DevOps
secret variable; docs/manifests.md shows both). Keeping it in the synced
vault was rejected because

- reading it is a value read on every run, and the sync promises zero;
- every app identity holds Key Vault Secrets User on the vault and could
  read it, putting the key in the hands of the readers it defends against
  (a reader that may list, and should not guess);
- the key protecting the vault's tags would share the vault's blast radius
  and its access reviews, and would need bootstrapping before the first
  sync.

Rotation: generate a new key, set it as ``SYNC_FINGERPRINT_KEY`` and the old
one as ``SYNC_FINGERPRINT_KEY_PREVIOUS`` for one run. Secrets whose tag
verifies under the previous key are re-tagged with a metadata-only update
(no new version, no value read); then drop the previous key. Without the
previous key, a tag from an unknown key cannot be checked, so the sync sets
the value again (a new version; safe, just noisier). Generated secrets keep
their tag: their value is never read, so their fingerprint is only checked
for presence (see :mod:`keyvault_platform.sync.planner`).

The key id in the tag is derived from the key by HMAC, so it names the key
without revealing anything about it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from keyvault_platform.core.errors import ToolError

KEY_ENV = "SYNC_FINGERPRINT_KEY"
PREVIOUS_KEY_ENV = "SYNC_FINGERPRINT_KEY_PREVIOUS"
MIN_KEY_CHARS = 32
FORMAT_VERSION = "v1"

#: Used only against the emulator when no key is configured. Public, so it
#: protects nothing; never accepted for a real Azure target.
DEVELOPMENT_KEY = "keyvault-platform local development fingerprint key; not secret"


class FingerprintKeyError(ToolError, ValueError):
    """The fingerprint key is missing or unusable (the message names the variable)."""


@dataclass(frozen=True)
class FingerprintKey:
    """One HMAC key and its public id."""

    key_id: str
    _key: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str, *, source: str = KEY_ENV) -> FingerprintKey:
        """A key from its text form (any string of at least 32 characters)."""
        text = text.strip()
        if len(text) < MIN_KEY_CHARS:
            raise FingerprintKeyError(
                f"{source} is {len(text)} characters; use at least {MIN_KEY_CHARS} random "
                "characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        key = text.encode("utf-8")
        key_id = hmac.new(key, b"keyvault-platform fingerprint key id", hashlib.sha256)
        return cls(key_id.hexdigest()[:8], key)

    def digest(self, name: str, value: str) -> str:
        message = b"\0".join(
            (FORMAT_VERSION.encode(), name.lower().encode("utf-8"), value.encode("utf-8"))
        )
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def fingerprint(self, name: str, value: str) -> str:
        """The tag value for ``value`` stored as secret ``name``."""
        return f"{FORMAT_VERSION}:{self.key_id}:{self.digest(name, value)}"


class Verdict(enum.Enum):
    """What a fingerprint tag says about a value."""

    MATCH = "match"  # made with the current key, same value
    MATCH_PREVIOUS_KEY = "match-previous-key"  # same value; re-tag with the current key
    MISMATCH = "mismatch"  # a key we hold says the value differs
    UNKNOWN_KEY = "unknown-key"  # made with a key we do not hold: cannot tell
    MISSING = "missing"  # no tag, or not one of ours


@dataclass(frozen=True)
class ParsedFingerprint:
    version: str
    key_id: str
    digest: str


def parse(tag: str | None) -> ParsedFingerprint | None:
    """The parts of a fingerprint tag, or None if it is not one of ours."""
    if not tag:
        return None
    parts = tag.split(":")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION or not parts[1] or not parts[2]:
        return None
    return ParsedFingerprint(*parts)


@dataclass(frozen=True)
class Keyring:
    """The current key (used to sign) and any previous keys (used only to verify)."""

    current: FingerprintKey
    previous: tuple[FingerprintKey, ...] = ()

    def fingerprint(self, name: str, value: str) -> str:
        return self.current.fingerprint(name, value)

    def verify(self, tag: str | None, name: str, value: str) -> Verdict:
        parsed = parse(tag)
        if parsed is None:
            return Verdict.MISSING
        for key, verdict in (
            (self.current, Verdict.MATCH),
            *((k, Verdict.MATCH_PREVIOUS_KEY) for k in self.previous),
        ):
            if key.key_id == parsed.key_id:
                if hmac.compare_digest(key.digest(name, value), parsed.digest):
                    return verdict
                return Verdict.MISMATCH
        return Verdict.UNKNOWN_KEY


def load_keyring(
    environ: Mapping[str, str], *, allow_development_key: bool = False
) -> tuple[Keyring, bool]:
    """The keyring from the environment, and whether it is the public development key.

    :param allow_development_key: use :data:`DEVELOPMENT_KEY` when
        ``SYNC_FINGERPRINT_KEY`` is unset (the emulator target only).
    :raises FingerprintKeyError: unset (and no fallback allowed), or too short.
    """
    text = environ.get(KEY_ENV, "")
    development = False
    if not text.strip():
        if not allow_development_key:
            raise FingerprintKeyError(
                f"{KEY_ENV} is not set: the sync needs the fingerprint key from the "
                "pipeline's secret store (see docs/manifests.md, 'The fingerprint key')"
            )
        text, development = DEVELOPMENT_KEY, True
    current = FingerprintKey.from_text(text)
    previous: tuple[FingerprintKey, ...] = ()
    old = environ.get(PREVIOUS_KEY_ENV, "")
    if old.strip():
        previous_key = FingerprintKey.from_text(old, source=PREVIOUS_KEY_ENV)
        if previous_key.key_id != current.key_id:
            previous = (previous_key,)
    return Keyring(current, previous), development
