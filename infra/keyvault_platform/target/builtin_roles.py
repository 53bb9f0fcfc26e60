"""Azure's built-in role names and ids that environment files name, known offline.

Taken from Azure's published list of built-in roles ("Azure built-in
roles", learn.microsoft.com): the general roles and every Key Vault role.
A role's id is the same in every subscription and cloud. Validation uses
the names to catch a misspelt role before anyone signs in; a name that is
close to none of them may be a custom role, which only Azure can resolve.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

#: Built-in role name -> role definition id (a GUID).
BUILTIN_ROLES: Mapping[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Certificates Officer": "a4417e6f-fecd-4de8-b567-7b0420556985",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto Service Release User": "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Data Access Administrator": "8b54135c-b56d-4d72-a534-26097cfdc8d8",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}

#: The role the sync's identity needs to write secrets.
SYNC_WRITER_ROLE = "Key Vault Secrets Officer"

_BY_LOWER = {name.lower(): name for name in BUILTIN_ROLES}


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a built-in role's name (Azure compares role names without case)."""
    return name.lower() in _BY_LOWER


def closest_builtin(name: str) -> str | None:
    """The built-in role ``name`` most likely misspells, or None when it is close to none."""
    if is_builtin(name):
        return None
    close = difflib.get_close_matches(" ".join(name.lower().split()), _BY_LOWER, n=1, cutoff=0.8)
    return _BY_LOWER[close[0]] if close else None
