"""docs/runbooks.md quotes the errors users see; the quotes must match the code that prints them.

Each fragment below is quoted in the runbook and must still be in the
emulator's error messages (which copy Azure's) or the tooling's own. When a
message changes, this fails and points at the runbook to update.
"""

from __future__ import annotations

import re

import pytest

from .newcomer_helpers import REPO_ROOT

FRAGMENTS = [
    # soft-deleted names
    "is currently in a deleted but recoverable state, and its name ",
    "is held by a soft-deleted secret the sync ",
    "is held by a soft-deleted vault, scheduled for ",
    "Set vault.on_soft_deleted: recover to bring it back (with its ",
    # RBAC propagation
    "Caller is not authorized to perform action on resource.",
    "If role assignments, deny assignments or role definitions were changed ",
    "RBAC changes can take up to 10 ",
    "raise provisioning.rbac_propagation_wait_s ",
    # PrincipalNotFound
    "does not exist in the directory",
    "Check that you have the correct principal ID. If you are creating this principal and ",
    "not its client id; a new identity can take minutes to replicate ",
    # purge protection
    "is enabled for this vault. Key Vault service will automatically purge it after ",
    "Operation 'DeletedVaultPurge' is not allowed.",
    "Azure makes purge protection irreversible once enabled. Set ",
    # throttling
    "Request was not processed because too many requests were received. Reason: ",
    "A single vault's service limits were exceeded.",
    "re-run the sync to converge",
    # other
    "the deploying identity needs User Access Administrator or Owner on the resource ",
]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _sources() -> str:
    files = [
        *REPO_ROOT.glob("keyvault-emulator/keyvault_emulator/**/*.py"),
        *REPO_ROOT.glob("infra/**/*.py"),
    ]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_runbook_quotes_match_the_code(fragment: str) -> None:
    runbook = _normalise((REPO_ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8"))
    assert _normalise(fragment).strip() in runbook, f"runbooks.md no longer quotes {fragment!r}"
    assert fragment in _sources(), f"no code prints {fragment!r} any more: update runbooks.md"
