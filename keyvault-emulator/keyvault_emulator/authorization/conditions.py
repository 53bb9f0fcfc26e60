"""Role assignment conditions (Azure ABAC, condition version 2.0): parse and evaluate.

The language is Azure's (see "Azure role assignment condition format and
syntax"): expressions joined by ``AND``/``&&``, ``OR``/``||``, negated by
``!``/``NOT``, grouped by parentheses; atoms are ``ActionMatches{'action'}``,
``SubOperationMatches{'op'}``, ``Exists``/``NotExists @Source[attribute]`` and
comparisons ``@Source[attribute] Operator value`` where the operator may carry a
cross-product quantifier (``ForAnyOfAnyValues:GuidEquals {guid, guid}``).
Keywords and operators compare case-insensitively, as Azure's examples use both
``StringEquals`` and ``stringEquals``.

What the emulator evaluates: ``ActionMatches`` and the string and GUID
operators over the attributes it knows (:data:`KNOWN_ATTRIBUTES`): a Key
Vault secret's name, and the role definition, principal and principal type of
a role assignment being written (``@Request``) or deleted (``@Resource``).

**Fail closed.** A condition that parses but uses anything else (another
attribute, a numeric, date, IP or list operator, ``SubOperationMatches``) is
valid for Resource Manager but *grants nothing* in the emulator: the emulator
cannot tell whether Azure would allow the request, so it refuses. A missing
attribute (a listing names no secret) makes a comparison false, whatever the
operator; Azure's exact rule for absent attributes is not documented for
every operator, so this is the emulator's reading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

Attribute = tuple[str, str]  # (source, name), both lower case: ("resource", "ns/type:name")
Attributes = Mapping[Attribute, Sequence[str]]

SECRET_NAME: Attribute = ("resource", "microsoft.keyvault/vaults/secrets:name")
_RA = "microsoft.authorization/roleassignments"
REQUEST_ROLE_DEFINITION: Attribute = ("request", f"{_RA}:roledefinitionid")
REQUEST_PRINCIPAL: Attribute = ("request", f"{_RA}:principalid")
REQUEST_PRINCIPAL_TYPE: Attribute = ("request", f"{_RA}:principaltype")
RESOURCE_ROLE_DEFINITION: Attribute = ("resource", f"{_RA}:roledefinitionid")
RESOURCE_PRINCIPAL: Attribute = ("resource", f"{_RA}:principalid")
RESOURCE_PRINCIPAL_TYPE: Attribute = ("resource", f"{_RA}:principaltype")
KNOWN_ATTRIBUTES = frozenset(
    {
        SECRET_NAME,
        REQUEST_ROLE_DEFINITION,
        REQUEST_PRINCIPAL,
        REQUEST_PRINCIPAL_TYPE,
        RESOURCE_ROLE_DEFINITION,
        RESOURCE_PRINCIPAL,
        RESOURCE_PRINCIPAL_TYPE,
    }
)
SOURCES = ("resource", "request", "principal", "environment")
QUANTIFIERS = ("foranyofanyvalues", "foranyofallvalues", "forallofanyvalues", "forallofallvalues")
# Operators the emulator evaluates; each maps to (comparison, negated).
_EVALUATED = {
    "stringequals": ("equals", False),
    "stringnotequals": ("equals", True),
    "stringequalsignorecase": ("iequals", False),
    "stringnotequalsignorecase": ("iequals", True),
    "stringstartswith": ("startswith", False),
    "stringnotstartswith": ("startswith", True),
    "stringstartswithignorecase": ("istartswith", False),
    "stringnotstartswithignorecase": ("istartswith", True),
    "stringlike": ("like", False),
    "stringnotlike": ("like", True),
    "guidequals": ("guid", False),
    "guidnotequals": ("guid", True),
}
# Operators Azure documents that the emulator parses but does not evaluate.
_NOT_EVALUATED = frozenset(
    {
        "numericequals",
        "numericnotequals",
        "numericlessthan",
        "numericlessthanequals",
        "numericgreaterthan",
        "numericgreaterthanequals",
        "boolequals",
        "boolnotequals",
        "datetimeequals",
        "datetimenotequals",
        "datetimegreaterthan",
        "datetimegreaterthanequals",
        "datetimelessthan",
        "datetimelessthanequals",
        "ipmatch",
        "ipnotmatch",
        "ipinrange",
        "ipnotinrange",
        "listcontains",
        "listnotcontains",
    }
)


class ConditionSyntaxError(ValueError):
    """The text is not a condition Azure would accept."""


# -- the syntax tree --------------------------------------------------------------------
@dataclass(frozen=True)
class _Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class _And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class _Not:
    item: Node


@dataclass(frozen=True)
class _ActionMatches:
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class _Opaque:
    """A well-formed atom the emulator does not evaluate (fails closed)."""

    text: str


@dataclass(frozen=True)
class _Exists:
    attribute: Attribute
    negated: bool


@dataclass(frozen=True)
class _Compare:
    attribute: Attribute
    quantifier: str  # "" for a single-valued comparison
    comparison: str
    negated: bool
    values: tuple[str, ...]


Node = _Or | _And | _Not | _ActionMatches | _Opaque | _Exists | _Compare


# -- tokens -----------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<and>&&)
  | (?P<or>\|\|)
  | (?P<punct>[!(){},])
  | (?P<string>'[^']*')
  | (?P<attribute>@(?P<source>[A-Za-z]+)\[(?P<name>[^\[\]]+)\])
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
  | (?P<number>-?\d+(?:\.\d+)?\b)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)?)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    source: str = ""
    name: str = ""


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConditionSyntaxError(f"unexpected character at {position}")
        position = match.end()
        kind = match.lastgroup or ""
        if kind == "ws":
            continue
        if kind in ("source", "name"):  # the inner groups of an attribute
            kind = "attribute"
        if kind == "attribute":
            found.append(
                _Token("attribute", match.group(0), match.group("source"), match.group("name"))
            )
        elif kind == "word" and match.group(0).lower() in ("and", "or", "not"):
            found.append(_Token(match.group(0).lower(), match.group(0)))
        else:
            found.append(_Token(kind, match.group(0)))
    return found


# -- the parser -------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.evaluable = True

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            raise ConditionSyntaxError(f"expected {text or kind} at token {self.position}")
        self.position += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind and (text is None or token.text == text)

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionSyntaxError("empty condition")
        node = self.expression()
        if self.peek() is not None:
            raise ConditionSyntaxError(f"unexpected {self.peek()!r}")
        return node

    def expression(self) -> Node:
        items = [self.conjunction()]
        while self.at("or"):
            self.position += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else _Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.factor()]
        while self.at("and"):
            self.position += 1
            items.append(self.factor())
        return items[0] if len(items) == 1 else _And(tuple(items))

    def factor(self) -> Node:
        token = self.peek()
        if token is None:
            raise ConditionSyntaxError("unexpected end of condition")
        if token.kind == "not" or (token.kind == "punct" and token.text == "!"):
            self.position += 1
            return _Not(self.factor())
        if token.kind == "punct" and token.text == "(":
            self.position += 1
            node = self.expression()
            self.take("punct", ")")
            return node
        if token.kind == "word" and token.text.lower() in ("actionmatches", "suboperationmatches"):
            self.position += 1
            self.take("punct", "{")
            literal = self.take("string").text[1:-1]
            self.take("punct", "}")
            if token.text.lower() == "suboperationmatches":
                self.evaluable = False
                return _Opaque(f"SubOperationMatches{{'{literal}'}}")
            return _ActionMatches(_wildcard(literal))
        if token.kind == "word" and token.text.lower() in ("exists", "notexists"):
            self.position += 1
            attribute = self.attribute()
            return _Exists(attribute, token.text.lower() == "notexists")
        if token.kind == "attribute":
            return self.comparison()
        raise ConditionSyntaxError(f"unexpected {token.text!r}")

    def attribute(self) -> Attribute:
        token = self.take("attribute")
        source = token.source.lower()
        if source not in SOURCES or not token.name.strip():
            raise ConditionSyntaxError(f"unknown attribute source {token.source!r}")
        attribute = (source, token.name.strip().lower())
        if attribute not in KNOWN_ATTRIBUTES:
            self.evaluable = False
        return attribute

    def comparison(self) -> Node:
        attribute = self.attribute()
        operator = self.take("word").text.lower()
        quantifier, _, base = operator.rpartition(":")
        if quantifier and quantifier not in QUANTIFIERS:
            raise ConditionSyntaxError(f"unknown quantifier {quantifier!r}")
        if base not in _EVALUATED and base not in _NOT_EVALUATED:
            raise ConditionSyntaxError(f"unknown operator {base!r}")
        values = self.values(allow_set=bool(quantifier))
        if base not in _EVALUATED:
            self.evaluable = False
            return _Opaque(operator)
        comparison, negated = _EVALUATED[base]
        return _Compare(attribute, quantifier, comparison, negated, values)

    def values(self, *, allow_set: bool) -> tuple[str, ...]:
        if self.at("punct", "{"):
            if not allow_set:
                raise ConditionSyntaxError("a set of values needs a ForAnyOf/ForAllOf operator")
            self.position += 1
            found = [self.literal()]
            while self.at("punct", ","):
                self.position += 1
                found.append(self.literal())
            self.take("punct", "}")
            return tuple(found)
        return (self.literal(),)

    def literal(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("string", "guid", "number", "word"):
            raise ConditionSyntaxError("expected a value")
        if token.kind == "word" and token.text.lower() not in ("true", "false"):
            raise ConditionSyntaxError(f"unexpected {token.text!r} where a value belongs")
        self.position += 1
        return token.text[1:-1] if token.kind == "string" else token.text


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(
        "^" + ".*".join(re.escape(part) for part in text.split("*")) + "$", re.IGNORECASE
    )


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _guid(text: str) -> str:
    return text.strip("{}").replace("-", "").lower()


def _compare(comparison: str, left: str, right: str) -> bool:
    if comparison == "equals":
        return left == right
    if comparison == "iequals":
        return left.lower() == right.lower()
    if comparison == "startswith":
        return left.startswith(right)
    if comparison == "istartswith":
        return left.lower().startswith(right.lower())
    if comparison == "like":
        return _like(left, right)
    return _guid(left) == _guid(right)  # "guid"


@dataclass(frozen=True)
class Condition:
    root: Node
    evaluable: bool  # False: parses, but uses what the emulator cannot evaluate

    def allows(self, action: str, attributes: Attributes) -> bool:
        """Does the condition hold for ``action`` with these request attributes?"""
        if not self.evaluable:
            return False  # fail closed: see the module docstring
        return _evaluate(self.root, action, attributes)


def _evaluate(node: Node, action: str, attributes: Attributes) -> bool:
    if isinstance(node, _Or):
        return any(_evaluate(item, action, attributes) for item in node.items)
    if isinstance(node, _And):
        return all(_evaluate(item, action, attributes) for item in node.items)
    if isinstance(node, _Not):
        return not _evaluate(node.item, action, attributes)
    if isinstance(node, _ActionMatches):
        return node.pattern.match(action) is not None
    if isinstance(node, _Exists):
        present = bool(attributes.get(node.attribute))
        return present != node.negated
    if isinstance(node, _Compare):
        left = list(attributes.get(node.attribute) or ())
        if not left:
            return False  # an absent attribute satisfies no comparison

        def holds(value: str, right: str) -> bool:
            return _compare(node.comparison, value, right) != node.negated

        quantifier = node.quantifier or "foranyofanyvalues"
        outer = any if quantifier.startswith("forany") else all
        inner = any if quantifier.endswith("anyvalues") else all
        return outer(inner(holds(value, right) for right in node.values) for value in left)
    return False  # _Opaque: never reached while evaluable


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> Condition:
    """The parsed condition, or :class:`ConditionSyntaxError`."""
    parser = _Parser(text)
    root = parser.parse()
    return Condition(root, parser.evaluable)


def condition_allows(text: str, action: str, attributes: Attributes) -> bool:
    """Evaluate a stored condition; one that no longer parses grants nothing."""
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError:
        return False
    return condition.allows(action, attributes)
