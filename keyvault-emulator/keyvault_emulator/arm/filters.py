"""The ``$filter`` of Resource Manager's generic resource lists.

``GET .../resources`` takes an OData-like filter; the Azure CLI sends
``resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'kv'`` to find a
vault without its group, and others filter by ``resourceGroup``. The
emulator understands equality on the properties below, joined by ``and``;
Resource Manager compares these case-insensitively. Anything else (``or``,
``substringof``, tags, other operators) is refused with Resource Manager's
``InvalidFilterInQueryString``, never answered with a silently wrong list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadRequest

# The filter's property names as Resource Manager spells them, lower-cased.
PROPERTIES = ("resourcetype", "name", "resourcegroup", "location")

# One clause: a property, ``eq``, and a quoted value ('' inside quotes is a quote).
_CLAUSE = re.compile(r"\s*(?P<property>\w+)\s+eq\s+'(?P<value>(?:[^']|'')*)'", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True)
class ResourceFilter:
    """The conditions of a ``$filter``: property (lower case) to wanted value (lower case)."""

    conditions: tuple[tuple[str, str], ...] = ()

    def accepts(self, fields: dict[str, str]) -> bool:
        """Whether a resource with ``fields`` (keys in :data:`PROPERTIES`) passes."""
        return all(fields.get(prop, "").lower() == wanted for prop, wanted in self.conditions)


def invalid_filter(text: str) -> BadRequest:
    return BadRequest(
        f"Invalid $filter '{text}' specified in the query string.",
        code="InvalidFilterInQueryString",
    )


def parse_filter(text: str) -> ResourceFilter:
    """The filter ``text`` means, or ``InvalidFilterInQueryString``."""
    if not text.strip():
        return ResourceFilter()
    conditions: list[tuple[str, str]] = []
    position = 0
    while True:
        clause = _CLAUSE.match(text, position)
        if clause is None or clause.group("property").lower() not in PROPERTIES:
            raise invalid_filter(text)
        value = clause.group("value").replace("''", "'")
        conditions.append((clause.group("property").lower(), value.lower()))
        position = clause.end()
        if not text[position:].strip():
            return ResourceFilter(tuple(conditions))
        joined = _AND.match(text, position)
        if joined is None:
            raise invalid_filter(text)
        position = joined.end()
