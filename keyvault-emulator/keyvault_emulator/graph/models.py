"""The directory as Microsoft Graph sees it: the emulator's principals, and queries over them.

No HTTP or JSON here. Every identity the emulator knows is a directory
object: a ``User`` principal is a user, anything else a service principal
(a managed identity, as the token endpoint signs them in). Service principal
names are the client id and the identity's name, so ``az role assignment
create --assignee app`` finds the identity called ``app``; a user's
principal name is ``{name}@`` :data:`USER_DOMAIN`.

Graph's ``$filter`` is OData; the CLI sends ``servicePrincipalNames/any(c:c
eq '...')``, ``appId eq '...'``, ``displayName eq '...'`` and
``userPrincipalName eq '...'``. Those (joined by ``and``) are understood;
anything else is refused with Graph's ``Request_UnsupportedQuery``, never
answered with a silently wrong list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config import Identity
from ..errors import AzureError

USER_DOMAIN = "emulator.local"
USER = "user"
SERVICE_PRINCIPAL = "servicePrincipal"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class DirectoryObject:
    """One principal as Graph describes it."""

    kind: str  # USER or SERVICE_PRINCIPAL (Graph's type names)
    object_id: str
    app_id: str
    display_name: str

    @property
    def service_principal_names(self) -> tuple[str, ...]:
        return (self.app_id, self.display_name) if self.kind == SERVICE_PRINCIPAL else ()

    @property
    def user_principal_name(self) -> str:
        return f"{self.display_name}@{USER_DOMAIN}" if self.kind == USER else ""

    @classmethod
    def of(cls, identity: Identity) -> DirectoryObject:
        kind = USER if identity.principal_type == "User" else SERVICE_PRINCIPAL
        return cls(kind, identity.object_id, identity.client_id, identity.name)


class GraphError(AzureError):
    """An error Graph answers; its body carries Graph's ``innerError`` (see responses)."""


def resource_not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


# -- $filter ------------------------------------------------------------------------------
_STRING = r"'(?P<value>(?:[^']|'')*)'"
_EQ = re.compile(r"\s*(?P<property>\w+)\s+eq\s+" + _STRING, re.IGNORECASE)
_ANY = re.compile(
    r"\s*(?P<property>\w+)/any\(\s*(?P<var>\w+)\s*:\s*(?P=var)\s+eq\s+" + _STRING + r"\s*\)",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)

# Properties each type may be filtered on (Graph compares them case-insensitively).
_SCALARS: dict[str, dict[str, Callable[[DirectoryObject], str]]] = {
    SERVICE_PRINCIPAL: {
        "appid": lambda o: o.app_id,
        "displayname": lambda o: o.display_name,
        "id": lambda o: o.object_id,
    },
    USER: {
        "userprincipalname": lambda o: o.user_principal_name,
        "displayname": lambda o: o.display_name,
        "id": lambda o: o.object_id,
    },
}
_COLLECTIONS: dict[str, dict[str, Callable[[DirectoryObject], tuple[str, ...]]]] = {
    SERVICE_PRINCIPAL: {"serviceprincipalnames": lambda o: o.service_principal_names},
    USER: {},
}

Condition = Callable[[DirectoryObject], bool]


def _unsupported(kind: str, text: str) -> GraphError:
    resource = "ServicePrincipal" if kind == SERVICE_PRINCIPAL else "User"
    return bad_request(
        f"Unsupported or invalid query filter clause specified for resource '{resource}': "
        f"'{text}'.",
        code="Request_UnsupportedQuery",
    )


def _clause(kind: str, text: str, position: int) -> tuple[Condition, int] | None:
    found = _ANY.match(text, position)
    if found is not None:
        values = _COLLECTIONS[kind].get(found.group("property").lower())
        if values is None:
            return None
        wanted = found.group("value").replace("''", "'").lower()
        return (lambda o: wanted in (v.lower() for v in values(o))), found.end()
    found = _EQ.match(text, position)
    if found is not None:
        value_of = _SCALARS[kind].get(found.group("property").lower())
        if value_of is None:
            return None
        wanted = found.group("value").replace("''", "'").lower()
        return (lambda o: value_of(o).lower() == wanted), found.end()
    return None


def parse_filter(kind: str, text: str) -> Condition:
    """What ``$filter`` ``text`` keeps of a list of ``kind``, or ``Request_UnsupportedQuery``."""
    if not text.strip():
        return lambda o: True
    conditions: list[Condition] = []
    position = 0
    while True:
        parsed = _clause(kind, text, position)
        if parsed is None:
            raise _unsupported(kind, text)
        condition, position = parsed
        conditions.append(condition)
        if not text[position:].strip():
            return lambda o: all(c(o) for c in conditions)
        joined = _AND.match(text, position)
        if joined is None:
            raise _unsupported(kind, text)
        position = joined.end()


class Directory:
    """The directory over the emulator's identities (read live: identities come and go)."""

    def __init__(self, identities: Callable[[], Iterable[Identity]]) -> None:
        self._identities = identities

    def objects(self, kind: str | None = None) -> list[DirectoryObject]:
        found = (DirectoryObject.of(i) for i in self._identities())
        return sorted(
            (o for o in found if kind is None or o.kind == kind),
            key=lambda o: o.display_name.lower(),
        )

    def get(self, object_id: str, kind: str | None = None) -> DirectoryObject:
        for found in self.objects(kind):
            if found.object_id.lower() == object_id.lower():
                return found
        raise resource_not_found(object_id)

    def get_by_ids(self, ids: list[str], types: list[str] | None) -> list[DirectoryObject]:
        """``directoryObjects/getByIds``: the objects found, in order; unknown ids left out."""
        wanted_types = None if not types else {t.lower() for t in types}
        if wanted_types is not None and "directoryobject" in wanted_types:
            wanted_types = None  # the base type: every object
        by_id = {o.object_id.lower(): o for o in self.objects()}
        result = []
        for object_id in ids:
            if not GUID.fullmatch(object_id):
                raise bad_request(f"Invalid object identifier '{object_id}'.")
            found = by_id.get(object_id.lower())
            if found is not None and (wanted_types is None or found.kind.lower() in wanted_types):
                result.append(found)
        return result

    def query(self, kind: str, filter_text: str) -> list[DirectoryObject]:
        keep = parse_filter(kind, filter_text)
        return [o for o in self.objects(kind) if keep(o)]
