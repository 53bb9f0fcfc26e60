"""Adopting secrets that exist without the sync's ownership: read once, compare, forget.

A vault made by hand (or by another tool) holds secrets under names the
manifests declare, without the sync's tags. Planning alone cannot tell
whether such a secret already holds the manifest's value (tags carry no
fingerprint of it), so ``sync --adopt`` reads each one **once**, right after
listing and before planning:

- a value from a source (env, file, literal) is compared with the vault's in
  memory, in constant time; only the verdict is kept;
- a generated secret keeps the vault's value: its fingerprint under the
  current key is computed so adoption can tag it as the sync's;
- the value read is dropped at once and never logged, kept or returned.

A disabled secret cannot be read (Key Vault answers 403 ``SecretDisabled``):
adoption records it as unreadable, and the plan sets a declared value again
(a new version, disabled as declared) or refuses a generated one, whose
value only the vault holds.

:func:`plan_sync <keyvault_platform.sync.planner.plan_sync>` turns the
findings into changes: an equal value (or a kept generated one) is adopted
by tagging the current version (no new version); a different one is a
value write, marked as found on adoption.

Reading values needs ``secrets/getSecret/action``: Key Vault Secrets
Officer, the sync identity's role, includes it. Only adoption reads; every
other sync run reads no value.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keyvault_platform.core.errors import ActionableError
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, DesiredSecret, ManifestSet
from keyvault_platform.sync.vault_state import ActualSecret, VaultState


@dataclass(frozen=True)
class Adoption:
    """What reading one unowned secret's current value found. Holds no value.

    ``equal`` is whether the manifest's value equals the vault's (``None``
    for a generated secret, whose value is kept whatever it is);
    ``fingerprint`` is the vault value's tag under the current key, written
    when the secret is adopted; ``changed`` means the secret changed between
    the listing and the read, so the plan refuses it (re-run);
    ``unreadable`` says why the value could not be read (then nothing else
    is known).
    """

    equal: bool | None
    fingerprint: str
    changed: bool = False
    unreadable: str | None = None

    def __repr__(self) -> str:
        return f"Adoption(equal={self.equal}, changed={self.changed}, unreadable={self.unreadable})"


#: Why a disabled secret's value cannot be read.
DISABLED = "it is disabled, and Key Vault does not return a disabled secret's value"


def unowned(actual: ActualSecret | None) -> bool:
    """Whether ``actual`` exists without the sync's ownership (tag or fingerprint missing)."""
    if actual is None or actual.managed:
        return False
    return not actual.owned or fp.parse(actual.tags.get(FINGERPRINT_TAG)) is None


def candidates(
    manifests: ManifestSet, state: VaultState, *, rotate: Iterable[str] = ()
) -> list[tuple[DesiredSecret, ActualSecret]]:
    """Declared secrets held by an active, unowned secret: what adoption reads.

    A generated secret named for rotation is replaced, not adopted, so it is
    not read.
    """
    rotating = {name.lower() for name in rotate}
    found = []
    for key, desired in sorted(manifests.by_key().items()):
        actual = state.secrets.get(key)
        if actual is not None and unowned(actual) and key not in rotating:
            found.append((desired, actual))
    return found


def _same_moment(actual: ActualSecret, properties: Any) -> bool:
    created = properties.created_on
    if actual.created_on is None or created is None:
        return actual.created_on is created
    return int(actual.created_on.timestamp()) == int(created.timestamp())


def read_for_adoption(
    client: Any,
    found: Iterable[tuple[DesiredSecret, ActualSecret]],
    keyring: fp.Keyring,
    *,
    before_read: Callable[[], None] | None = None,
) -> dict[str, Adoption]:
    """Read each candidate's current value once and compare it; keyed by lower-cased name.

    ``client`` is a ``SecretClient`` allowed to read values; ``before_read``
    runs before each request (pacing). Not-found answers (deleted since the
    listing) are left out: the plan then creates the secret.
    """
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from keyvault_platform.target.failures import inner_code

    adoptions: dict[str, Adoption] = {}
    for desired, actual in found:
        if before_read is not None:
            before_read()
        try:
            secret = client.get_secret(actual.name)
        except ResourceNotFoundError:
            continue
        except HttpResponseError as exc:
            if exc.status_code == 403 and inner_code(exc) == "SecretDisabled":
                adoptions[desired.vault_name.lower()] = Adoption(None, "", unreadable=DISABLED)
                continue
            if exc.status_code == 403:
                raise ActionableError(
                    f"--adopt could not read {actual.name}: access denied",
                    hint="adoption reads each unowned declared value once: the sync identity "
                    "needs secrets/getSecret on the vault (Key Vault Secrets Officer has it)",
                ) from None
            raise
        adoptions[desired.vault_name.lower()] = _compare(desired, actual, secret, keyring)
    return adoptions


def _compare(
    desired: DesiredSecret, actual: ActualSecret, secret: Any, keyring: fp.Keyring
) -> Adoption:
    """The verdict on one value read; the value goes out of scope with this frame."""
    vault_value = secret.value if secret.value is not None else ""
    changed = not _same_moment(actual, secret.properties)
    fingerprint = keyring.fingerprint(desired.vault_name, vault_value)
    if desired.value is None:
        return Adoption(None, fingerprint, changed)
    declared = desired.value.reveal()
    equal = hmac.compare_digest(
        vault_value.encode("utf-8", "surrogatepass"), declared.encode("utf-8", "surrogatepass")
    )
    return Adoption(equal, fingerprint, changed)


def counts(adoptions: Mapping[str, Adoption]) -> tuple[int, int, int]:
    """(equal or kept, different, unreadable) among ``adoptions``."""
    unreadable = sum(1 for a in adoptions.values() if a.unreadable is not None)
    different = sum(1 for a in adoptions.values() if a.equal is False)
    return len(adoptions) - different - unreadable, different, unreadable
