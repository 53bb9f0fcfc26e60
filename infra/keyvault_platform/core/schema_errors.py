"""JSON Schema violations described for people, each at its ``file:line:col``.

One describer for every file the tool validates (environment files, secret
manifests). jsonschema's own messages restate the rule and echo the value
(``'yes' is not of type 'boolean'``), and in a manifest the value may be a
secret; so each error is described here from its keyword and its schema,
never from the value::

    secrets[0].enabled: must be true or false, not a string
    vault.purge_protect: unknown field 'purge_protect'; allowed: location, name, ...
    secrets[0].value: give exactly one value source: env, file, generate or literal

A schema words a refusal itself, where the generic text would be vague,
with the annotation ``x-error`` on the (sub)schema that fails: a string is
the message for any keyword failing there; a mapping gives a message per
keyword (``x-error: {pattern: must be an environment variable name}``).
An object that takes exactly one of its properties (``minProperties`` and
``maxProperties`` 1) is described from them, with its ``title`` as the noun.

Each message is prefixed with the path of the value (``vault.network_acls
.ip_rules[0]``, ``(document)`` for the root) and located at that value; an
unknown field at the field, a bad key at the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from keyvault_platform.core.yaml_source import Location, PathKey, Problem, SourceDocument

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}

# Keywords that say a value has the wrong shape for a oneOf/anyOf branch, as
# opposed to the right shape with something wrong inside it.
_SHAPE_KEYWORDS = frozenset({"type", "const", "enum"})


@dataclass(frozen=True)
class SchemaViolation:
    """One schema problem, and the path of the value the schema refused."""

    path: PathKey
    problem: Problem


def schema_problems(document: SourceDocument, validator: Validator) -> list[Problem]:
    """Validate ``document`` with ``validator``; each problem at its value's position."""
    return [violation.problem for violation in schema_violations(document, validator)]


def schema_violations(document: SourceDocument, validator: Validator) -> list[SchemaViolation]:
    """Like :func:`schema_problems`, keeping each problem's path (to skip later checks)."""
    found: list[SchemaViolation] = []
    required_seen: set[tuple[PathKey, int]] = set()
    for error in validator.iter_errors(json_compatible(document.data)):
        for leaf in _leaves(error):
            path = tuple(leaf.absolute_path)
            if leaf.validator == "required" and _custom(leaf) is None:
                # jsonschema reports each missing property apart; say it once per object.
                if (path, id(leaf.schema)) in required_seen:
                    continue
                required_seen.add((path, id(leaf.schema)))
            problem = Problem(
                _locate(document, leaf, path), f"{field_path(path)}: {describe(leaf)}"
            )
            found.append(SchemaViolation(path, problem))
    return found


def with_strict_anchors(schema: Any) -> Any:
    """``schema`` with each ``pattern`` ending in ``$`` made to end at the string's end.

    jsonschema matches patterns with Python's ``re.search``, whose ``$``
    also matches *before* a final newline; JSON Schema's (ECMA 262) does
    not. Without this, ``name: "kv-prod\n"`` would pass a name pattern.
    """
    if isinstance(schema, dict):
        fixed = {key: with_strict_anchors(value) for key, value in schema.items()}
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
            fixed["pattern"] = pattern[:-1] + r"\Z"
        return fixed
    if isinstance(schema, list):
        return [with_strict_anchors(item) for item in schema]
    return schema


def json_compatible(value: Any) -> Any:
    """YAML dates and timestamps as ISO strings, as JSON Schema expects them."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_compatible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_compatible(v) for v in value]
    return value


def field_path(path: PathKey) -> str:
    """``("secrets", 0, "value", "env")`` -> ``secrets[0].value.env``; ``()`` -> ``(document)``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def describe(error: ValidationError) -> str:
    """What ``error`` means, without its value (it may be a secret)."""
    custom = _custom(error)
    words = custom if custom is not None else _rule(error)
    if custom is None and _under_property_names(error):
        words = "a key " + words
    instance = error.instance
    if error.validator == "pattern" and isinstance(instance, str) and instance != instance.strip():
        # A pasted newline or space is invisible in the file: say that is what is wrong.
        words += " (it starts or ends with whitespace: a space, tab or newline)"
    return words


def _rule(error: ValidationError) -> str:
    kind = str(error.validator)
    expected: Any = error.validator_value
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    match kind:
        case "additionalProperties":
            allowed = sorted(schema.get("properties", {}))
            hints = []
            for name in _unknown_fields(instance, schema):
                close = difflib.get_close_matches(name.replace("-", "_").lower(), allowed, n=1)
                hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            return f"unknown field {', '.join(hints)}; allowed: {', '.join(allowed)}"
        case "required":
            missing = [f"'{name}'" for name in expected if name not in instance]
            if not missing:
                return "a required field is missing"
            return f"{_listing(missing, 'and')} {'is' if len(missing) == 1 else 'are'} required"
        case "type":
            words = expected if isinstance(expected, list) else [expected]
            wanted = " or ".join(_TYPE_WORDS.get(str(w), str(w)) for w in words)
            scalar = isinstance(instance, bool | int | float)
            hint = " (quote it)" if words == ["string"] and scalar else ""
            return f"must be {wanted}, not {_json_type(instance)}{hint}"
        case "minProperties" | "maxProperties" if _one_of_properties(schema):
            noun = schema.get("title", "of")
            return f"give exactly one {noun}: {_listing(list(schema['properties']), 'or')}"
        case "pattern":
            # A rule in words (the schema's description), never the regular
            # expression; and a value that only fails for surrounding
            # whitespace (a pasted newline) is told so, without the value.
            form = schema.get("description")
            return f"must be {form}" if form else "is not in the form this field takes"
        case "minLength":
            return (
                "must not be empty"
                if expected == 1
                else f"must be at least {expected:,} characters"
            )
        case "maxLength":
            return f"must be at most {expected:,} characters"
        case "minimum":
            return f"must be at least {expected}"
        case "maximum":
            return f"must be at most {expected}"
        case "exclusiveMinimum":
            return f"must be more than {expected}"
        case "exclusiveMaximum":
            return f"must be less than {expected}"
        case "minItems" | "minProperties":
            return "must not be empty" if expected == 1 else f"at least {expected:,} entries"
        case "maxItems" | "maxProperties":
            return f"at most {expected:,} entries"
        case "uniqueItems":
            return "must not list the same entry twice"
        case "enum":
            return f"must be one of: {', '.join(str(v) for v in expected)}"
        case "const":
            return f"must be {_shown(expected)}"
        case "oneOf" | "anyOf":
            forms = [_form(branch) for branch in expected]
            if not error.context:  # oneOf: valid under several branches
                return f"matches more than one of: {_listing(forms, 'and')}"
            return f"must be {_listing(forms, 'or')}" + _did_you_mean(instance, expected)
        case "not":
            return "is not allowed here"
        case _:
            return f"is not valid ({kind})"


def _custom(error: ValidationError) -> str | None:
    """The schema's own wording for this refusal (``x-error``), if it has one."""
    if not isinstance(error.schema, dict):
        return None
    custom = error.schema.get("x-error")
    if isinstance(custom, dict):
        custom = custom.get(str(error.validator))
    return str(custom) if custom else None


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors worth describing: inside a oneOf/anyOf, the branch the value was meant for.

    A branch the value has the shape of (no type/const/enum refusal at the
    value itself) is the one it was meant for; when exactly one is, its
    errors say more than "matches none of the forms".
    """
    if str(error.validator) in ("oneOf", "anyOf") and error.context and _custom(error) is None:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        here = list(error.absolute_path)
        fitting = [
            subs
            for subs in branches.values()
            if not any(
                str(s.validator) in _SHAPE_KEYWORDS and list(s.absolute_path) == here for s in subs
            )
        ]
        if len(fitting) == 1:
            for sub in fitting[0]:
                yield from _leaves(sub)
            return
    yield error


def _locate(document: SourceDocument, error: ValidationError, path: PathKey) -> Location:
    """The value's position; an unknown field's or a bad key's own, when there is one."""
    if error.validator == "additionalProperties" and _custom(error) is None:
        schema = error.schema if isinstance(error.schema, dict) else {}
        unknown = _unknown_fields(error.instance, schema)
        if unknown:
            return document.locate_key((*path, unknown[0]))
    if _under_property_names(error) and isinstance(error.instance, str):
        return document.locate_key((*path, error.instance))
    return document.locate(path)


def _unknown_fields(instance: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return sorted(
        str(key)
        for key in instance
        if key not in known and not any(p.search(str(key)) for p in patterns)
    )


def _under_property_names(error: ValidationError) -> bool:
    path = list(error.relative_schema_path)
    return len(path) >= 2 and path[-2] == "propertyNames"


def _one_of_properties(schema: dict[str, Any]) -> bool:
    return (
        schema.get("minProperties") == 1
        and schema.get("maxProperties") == 1
        and bool(schema.get("properties"))
    )


def _form(branch: Any) -> str:
    """A oneOf/anyOf branch in words: a constant, a list of values, or a type."""
    if not isinstance(branch, dict):
        return "another form"
    if "title" in branch:  # the schema's own words for this alternative
        return str(branch["title"])
    if "const" in branch:
        return _shown(branch["const"])
    if "enum" in branch:
        return _listing([_shown(v) for v in branch["enum"]], "or")
    kind = branch.get("type")
    if isinstance(kind, str):
        return _TYPE_WORDS.get(kind, kind)
    return str(branch.get("title", "another form"))


def _did_you_mean(instance: Any, branches: Any) -> str:
    """`` (did you mean 'vault'?)`` when a string is close to one of the branches' constants."""
    if not isinstance(instance, str) or not isinstance(branches, list):
        return ""
    constants = [
        str(b["const"]) for b in branches if isinstance(b, dict) and isinstance(b.get("const"), str)
    ]
    close = difflib.get_close_matches(instance.strip().lower(), constants, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _shown(constant: Any) -> str:
    return f"'{constant}'" if isinstance(constant, str) else str(constant)


def _listing(items: Sequence[str], last: str) -> str:
    """``a, b and c`` (or ``a, b or c``)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
