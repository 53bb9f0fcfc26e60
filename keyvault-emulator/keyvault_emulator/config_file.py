"""The configuration file: YAML read with its line numbers, checked whole, then built.

Every problem is collected before anything is built, each as
``FILE:LINE: WHERE: WHAT`` (for example ``emulator.yaml:14: vaults[0].secrets[1].name:
'db password' is not a secret name ...``), so a bad file is reported at once
and the emulator starts nothing. No secret value is ever quoted in a
problem. The keys are documented in docs/emulator.md; an example that uses
every key ships as package data (``keyvault-emulator config example``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .config import (
    IDENTITY_NAME,
    PRINCIPAL_TYPES,
    ArmLimits,
    EmulatorConfig,
    Identity,
    RoleSeed,
    SecretSeed,
    ThrottleLimits,
    VaultSeed,
)
from .events import EventSubscription
from .faults import FaultPlan

EXAMPLE_RESOURCE = "example-config.yaml"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file: where (line and key path) and what."""

    line: int
    where: str
    message: str


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``problems`` lists each, in file order."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = [
            f"{path}{f':{p.line}' if p.line else ''}: {p.where + ': ' if p.where else ''}"
            f"{p.message}"
            for p in self.problems
        ]
        count = len(lines)
        super().__init__(
            f"the emulator configuration {path} has {count} problem{'s' * (count != 1)}:\n"
            + "\n".join(lines)
        )


def example_text() -> str:
    """The example configuration shipped with the package (every key, commented)."""
    example = resources.files("keyvault_emulator").joinpath(EXAMPLE_RESOURCE)
    return example.read_text(encoding="utf-8")


def read_config_file(path: Path) -> EmulatorConfig:
    """Parse and check ``path``; raises :class:`ConfigError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(path, [ConfigProblem(0, "", f"cannot read it: {reason}")]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> EmulatorConfig:
    """Parse and check configuration ``text`` (``path`` names it in problems)."""
    try:
        document = yaml.load(text, Loader=_LineLoader)
    except _DuplicateKey as duplicate:
        raise ConfigError(path, [duplicate.problem]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        what = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(path, [ConfigProblem(line, "", f"not valid YAML: {what}")]) from None
    checker = _Checker()
    if document is None:
        document = _Mapping()
    if not isinstance(document, _Mapping):
        checker.fail(1, "", "the file must be a mapping of keys (see docs/emulator.md)")
        raise ConfigError(path, checker.problems)
    config = checker.config(document)
    if checker.problems:
        raise ConfigError(path, checker.problems)
    assert config is not None
    return config


# -- YAML with lines -------------------------------------------------------------------
class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 1
    lines: dict[Any, int]


class _Sequence(list[Any]):
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 1
    lines: list[int]


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    result = _Mapping()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            first = result.lines[key]
            raise _DuplicateKey(
                ConfigProblem(line, str(key), f"duplicate key (first on line {first})")
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _Sequence:
    result = _Sequence(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [item.start_mark.line + 1 for item in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# -- checking --------------------------------------------------------------------------
_Check = Callable[[Any], str | None]  # None: fine; else what is wrong


def _a_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {_shown(value)}"


def _an_int(low: int | None = None, high: int | None = None) -> _Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number, not {_shown(value)}"
        return _in_range(value, low, high)

    return check


def _a_number(
    low: float | None = None, high: float | None = None, *, above: bool = False
) -> _Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"must be a number, not {_shown(value)}"
        if above and low is not None and value <= low:
            return f"must be above {low:g}, not {value:g}"
        return _in_range(value, low, high)

    return check


def _in_range(value: float, low: float | None, high: float | None) -> str | None:
    if low is not None and value < low:
        return f"must be at least {low:g}, not {value:g}"
    if high is not None and value > high:
        return f"must be at most {high:g}, not {value:g}"
    return None


def _a_string(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"must be text, not {_shown(value)}"


def _a_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a GUID in quotes, not {_shown(value)}"
    try:
        uuid.UUID(value)
    except ValueError:
        return f"{value!r} is not a GUID (like 00000000-0000-0000-0000-000000000000)"
    return None


def _one_of(*choices: str) -> _Check:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(choices)}, not {_shown(value)}"

    return check


def _shown(value: Any) -> str:
    """A short description of a wrong value (the type for text, which may be a secret)."""
    if value is None:
        return "empty"
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return f"text {value!r}" if len(value) <= 40 else "a long text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


#: Top-level scalars: key -> check.
_SCALARS: dict[str, _Check] = {
    "tenant_id": _a_uuid,
    "port": _an_int(0, 65535),
    "vault_port_base": _an_int(0, 65535),
    "token_lifetime_s": _an_int(1),
    "arm_page_size": _an_int(1, 1000),
    "rbac_propagation_delay_s": _a_number(0),
    "principal_replication_delay_s": _a_number(0),
    "vault_dns_registration_s": _a_number(0),
}
_THROTTLING: dict[str, _Check] = {
    "enabled": _a_bool,
    "window_s": _a_number(0, above=True),
    "writes": _an_int(1),
    "others": _an_int(1),
}
_ARM_THROTTLING: dict[str, _Check] = {
    "enabled": _a_bool,
    "window_s": _a_number(0, above=True),
    "writes": _an_int(1),
    "reads": _an_int(1),
}
_FAULT_PLAN: dict[str, _Check] = {
    "error_rate": _a_number(0, 1),
    "retry_after_s": _an_int(0),
    "latency_ms": _a_number(0),
    "spike_rate": _a_number(0, 1),
    "spike_ms": _a_number(0),
    "drop_rate": _a_number(0, 1),
    "outage": _a_bool,
    "outage_drop": _a_bool,
    "seed": _an_int(),
}
_FAULT_LISTS = ("statuses", "operations")
_IDENTITY: dict[str, _Check] = {
    "name": _a_string,
    "principal_type": _one_of(*PRINCIPAL_TYPES),
    "object_id": _a_uuid,
    "client_id": _a_uuid,
}
_VAULT: dict[str, _Check] = {
    "name": _a_string,
    "resource_group": _a_string,
    "subscription_id": _a_uuid,
    "location": _a_string,
    "rbac": _a_bool,
    "purge_protection": _a_bool,
    "retention_days": _an_int(7, 90),
}
_SECRET: dict[str, _Check] = {
    "name": _a_string,
    "content_type": _a_string,
    "enabled": _a_bool,
}
_TOP_LEVEL = (
    *_SCALARS,
    "subscriptions",
    "identities",
    "vaults",
    "role_assignments",
    "throttling",
    "arm_throttling",
    "faults",
    "event_subscriptions",
)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def fail(self, line: int, where: str, message: str) -> None:
        self.problems.append(ConfigProblem(line, where, message))

    # -- helpers -----------------------------------------------------------------
    def _mapping(self, value: Any, line: int, where: str) -> _Mapping | None:
        if isinstance(value, _Mapping):
            return value
        self.fail(line, where, f"must be a mapping of keys, not {_shown(value)}")
        return None

    def _sequence(self, value: Any, line: int, where: str) -> _Sequence | None:
        if isinstance(value, _Sequence):
            return value
        self.fail(line, where, f"must be a list, not {_shown(value)}")
        return None

    def _known_keys(self, mapping: _Mapping, known: tuple[str, ...], where: str) -> None:
        for key in mapping:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
                self.fail(mapping.lines[key], _join(where, str(key)), f"unknown key ({hint})")

    def _fields(self, mapping: _Mapping, checks: dict[str, _Check], where: str) -> dict[str, Any]:
        """The checked scalar fields of ``mapping`` that are present and right."""
        good: dict[str, Any] = {}
        for key, check in checks.items():
            if key in mapping:
                problem = check(mapping[key])
                if problem:
                    self.fail(mapping.lines[key], _join(where, key), problem)
                else:
                    good[key] = mapping[key]
        return good

    def _required(self, mapping: _Mapping, key: str, where: str) -> bool:
        if key in mapping:
            return True
        self.fail(mapping.line, where, f"{key!r} is required")
        return False

    # -- the file ----------------------------------------------------------------
    def config(self, document: _Mapping) -> EmulatorConfig | None:
        self._known_keys(document, _TOP_LEVEL, "")
        changes: dict[str, Any] = self._fields(document, _SCALARS, "")
        subscriptions = self._subscriptions(document)
        if subscriptions:
            changes["subscriptions"] = subscriptions
        identities = self._identities(document)
        if identities is not None:
            changes["identities"] = identities
        known_identities = {
            i.name for i in (identities if identities is not None else EmulatorConfig().identities)
        }
        subscription = (subscriptions or EmulatorConfig().subscriptions)[0]
        vaults = self._vaults(document, subscription, subscriptions or (subscription,))
        changes["vaults"] = vaults
        vault_ids = {v.name.lower(): v.resource_id for v in vaults}
        if "role_assignments" in document:
            changes["role_assignments"] = self._role_assignments(
                document, known_identities, vault_ids
            )
        for key, checks, build in (
            ("throttling", _THROTTLING, ThrottleLimits),
            ("arm_throttling", _ARM_THROTTLING, ArmLimits),
        ):
            if key in document:
                section = self._mapping(document[key], document.lines[key], key)
                if section is not None:
                    self._known_keys(section, tuple(checks), key)
                    changes[key] = build(**self._fields(section, checks, key))
        if "faults" in document:
            changes["faults"] = self._faults(document, {v.name.lower() for v in vaults})
        if "event_subscriptions" in document:
            changes["event_subscriptions"] = self._event_subscriptions(document)
        if self.problems:
            return None
        return EmulatorConfig().with_changes(**changes)

    def _event_subscriptions(self, document: _Mapping) -> tuple[EventSubscription, ...]:
        """Webhooks for the vaults' secret events (:mod:`keyvault_emulator.events`)."""
        where = "event_subscriptions"
        items = self._sequence(document[where], document.lines[where], where)
        if items is None:
            return ()
        found = []
        for index, item in enumerate(items):
            at = f"{where}[{index}]"
            try:
                found.append(EventSubscription.from_mapping(item, at))
            except ValueError as exc:
                # from_mapping says "<entry>[.<key>]: <what>"; the line is the entry's.
                path, _, what = str(exc).partition(": ")
                self.fail(items.lines[index], path, what)
        return tuple(found)

    def _subscriptions(self, document: _Mapping) -> tuple[str, ...]:
        if "subscriptions" not in document:
            return ()
        items = self._sequence(
            document["subscriptions"], document.lines["subscriptions"], "subscriptions"
        )
        if items is None:
            return ()
        if not items:
            self.fail(items.line, "subscriptions", "must name at least one subscription")
        found = []
        for index, item in enumerate(items):
            problem = _a_uuid(item)
            if problem:
                self.fail(items.lines[index], f"subscriptions[{index}]", problem)
            else:
                found.append(str(item))
        return tuple(found)

    def _identities(self, document: _Mapping) -> tuple[Identity, ...] | None:
        if "identities" not in document:
            return None
        items = self._sequence(document["identities"], document.lines["identities"], "identities")
        if items is None:
            return None
        found: list[Identity] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            where, line = f"identities[{index}]", items.lines[index]
            if isinstance(item, str):
                entry: dict[str, Any] = {"name": item}
                problem = _a_string(item)
                if problem:
                    self.fail(line, where, problem)
                    continue
            else:
                mapping = self._mapping(item, line, where)
                if mapping is None:
                    continue
                self._known_keys(mapping, tuple(_IDENTITY), where)
                if not self._required(mapping, "name", where):
                    continue
                entry = self._fields(mapping, _IDENTITY, where)
                if "name" not in entry:
                    continue
            name = entry["name"]
            if not IDENTITY_NAME.match(name):
                self.fail(
                    line,
                    where,
                    f"{name!r} is not an identity name: 1-64 letters, digits, '-', '_' or '.'",
                )
                continue
            if name.lower() in seen:
                self.fail(
                    line,
                    where,
                    f"identity {name!r} is already declared on line {seen[name.lower()]}",
                )
                continue
            seen[name.lower()] = line
            base = Identity.named(name, entry.get("principal_type", "ServicePrincipal"))
            found.append(
                Identity(
                    name=name,
                    object_id=entry.get("object_id", base.object_id),
                    client_id=entry.get("client_id", base.client_id),
                    principal_type=base.principal_type,
                )
            )
        return tuple(found)

    def _vaults(
        self, document: _Mapping, subscription: str, subscriptions: tuple[str, ...]
    ) -> tuple[VaultSeed, ...]:
        if "vaults" not in document:
            return ()
        items = self._sequence(document["vaults"], document.lines["vaults"], "vaults")
        if items is None:
            return ()
        from .arm.models import VAULT_NAME

        found: list[VaultSeed] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            where, line = f"vaults[{index}]", items.lines[index]
            mapping = self._mapping(item, line, where)
            if mapping is None:
                continue
            self._known_keys(mapping, (*_VAULT, "secrets"), where)
            if not self._required(mapping, "name", where):
                continue
            fields = self._fields(mapping, _VAULT, where)
            name = fields.get("name")
            if name is None:
                continue
            if not VAULT_NAME.match(name) or "--" in name:
                self.fail(
                    mapping.lines["name"],
                    f"{where}.name",
                    f"{name!r} is not a vault name: 3-24 letters, digits and hyphens, "
                    "beginning with a letter, ending with a letter or digit, no '--'",
                )
                continue
            if name.lower() in seen:
                self.fail(
                    line, where, f"vault {name!r} is already declared on line {seen[name.lower()]}"
                )
                continue
            seen[name.lower()] = line
            wanted = fields.get("subscription_id", subscription)
            if wanted.lower() not in {s.lower() for s in subscriptions}:
                self.fail(
                    mapping.lines["subscription_id"],
                    f"{where}.subscription_id",
                    f"{wanted} is not one of the emulator's subscriptions (key 'subscriptions')",
                )
                continue
            fields["subscription_id"] = wanted
            secrets = self._secrets(mapping, where)
            found.append(VaultSeed(**fields, secrets=secrets))
        return tuple(found)

    def _secrets(self, vault: _Mapping, vault_where: str) -> tuple[SecretSeed, ...]:
        if "secrets" not in vault:
            return ()
        where = f"{vault_where}.secrets"
        items = self._sequence(vault["secrets"], vault.lines["secrets"], where)
        if items is None:
            return ()
        from .keyvault.models import (
            MAX_TAG_NAME,
            MAX_TAG_VALUE,
            MAX_TAGS,
            MAX_VALUE_BYTES,
            SECRET_NAME,
        )

        found: list[SecretSeed] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            at, line = f"{where}[{index}]", items.lines[index]
            before = len(self.problems)
            mapping = self._mapping(item, line, at)
            if mapping is None:
                continue
            self._known_keys(mapping, (*_SECRET, "value", "tags", "not_before", "expires"), at)
            if not (self._required(mapping, "name", at) & self._required(mapping, "value", at)):
                continue
            fields = self._fields(mapping, _SECRET, at)
            name = fields.get("name")
            if name is None:
                continue
            if not SECRET_NAME.match(name):
                self.fail(
                    mapping.lines["name"],
                    f"{at}.name",
                    f"{name!r} is not a secret name: 1-127 letters, digits and hyphens",
                )
                continue
            if name.lower() in seen:
                self.fail(
                    line, at, f"secret {name!r} is already declared on line {seen[name.lower()]}"
                )
                continue
            seen[name.lower()] = line
            value = mapping["value"]
            if not isinstance(value, str):
                # Never echo it: a value is a secret even when mistyped.
                self.fail(mapping.lines["value"], f"{at}.value", "must be text (quote it)")
                continue
            if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
                self.fail(
                    mapping.lines["value"],
                    f"{at}.value",
                    f"is too large: Key Vault allows {MAX_VALUE_BYTES} bytes",
                )
                continue
            tags: tuple[tuple[str, str], ...] = ()
            if "tags" in mapping:
                tag_map = self._mapping(mapping["tags"], mapping.lines["tags"], f"{at}.tags")
                if tag_map is None:
                    continue
                if len(tag_map) > MAX_TAGS:
                    self.fail(
                        tag_map.line,
                        f"{at}.tags",
                        f"has {len(tag_map)} tags; Key Vault allows {MAX_TAGS}",
                    )
                    continue
                bad = [
                    k
                    for k, v in tag_map.items()
                    if not isinstance(k, str)
                    or not isinstance(v, str)
                    or len(k) > MAX_TAG_NAME
                    or len(v) > MAX_TAG_VALUE
                ]
                for key in bad:
                    self.fail(
                        tag_map.lines[key],
                        f"{at}.tags.{key}",
                        f"tag names and values must be text (names up to {MAX_TAG_NAME} "
                        f"characters, values up to {MAX_TAG_VALUE}; quote numbers)",
                    )
                if bad:
                    continue
                tags = tuple(sorted(tag_map.items()))
            moments: dict[str, int | None] = {}
            for key in ("not_before", "expires"):
                if key in mapping:
                    moment, problem = _epoch(mapping[key])
                    if problem:
                        self.fail(mapping.lines[key], f"{at}.{key}", problem)
                    moments[key] = moment
            start, end = moments.get("not_before"), moments.get("expires")
            if start is not None and end is not None and start >= end:
                self.fail(mapping.lines["expires"], f"{at}.expires", "must be after not_before")
                continue
            if len(self.problems) > before:
                continue
            found.append(
                SecretSeed(
                    name=name,
                    value=value,
                    content_type=fields.get("content_type"),
                    tags=tags,
                    enabled=fields.get("enabled", True),
                    not_before=moments.get("not_before"),
                    expires=moments.get("expires"),
                )
            )
        return tuple(found)

    def _role_assignments(
        self, document: _Mapping, identities: set[str], vault_ids: dict[str, str]
    ) -> tuple[RoleSeed, ...]:
        items = self._sequence(
            document["role_assignments"], document.lines["role_assignments"], "role_assignments"
        )
        if items is None:
            return ()
        from .authorization.roles import BUILT_IN_ROLES, role_by_name

        found: list[RoleSeed] = []
        for index, item in enumerate(items):
            where, line = f"role_assignments[{index}]", items.lines[index]
            mapping = self._mapping(item, line, where)
            if mapping is None:
                continue
            self._known_keys(mapping, ("identity", "role", "scope", "vault"), where)
            if not (
                self._required(mapping, "identity", where) & self._required(mapping, "role", where)
            ):
                continue
            fields = self._fields(
                mapping,
                {"identity": _a_string, "role": _a_string, "scope": _a_string, "vault": _a_string},
                where,
            )
            ok = True
            identity = fields.get("identity")
            if identity is not None and identity not in identities:
                self.fail(
                    mapping.lines["identity"],
                    f"{where}.identity",
                    f"unknown identity {identity!r}; declared: {', '.join(sorted(identities))}",
                )
                ok = False
            role = fields.get("role")
            if role is not None and role_by_name(role) is None:
                names = [r.name for r in BUILT_IN_ROLES]
                close = difflib.get_close_matches(role, names, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(names)}"
                self.fail(mapping.lines["role"], f"{where}.role", f"unknown role {role!r} ({hint})")
                ok = False
            scope = fields.get("scope")
            vault = fields.get("vault")
            if ("scope" in mapping) == ("vault" in mapping):
                self.fail(
                    line,
                    where,
                    "give exactly one of 'scope' (a resource id) or 'vault' (a vault name)",
                )
                ok = False
            elif vault is not None:
                scope = vault_ids.get(vault.lower())
                if scope is None:
                    self.fail(
                        mapping.lines["vault"],
                        f"{where}.vault",
                        f"no vault {vault!r} in 'vaults'; use 'scope' for a vault made through "
                        "Resource Manager",
                    )
                    ok = False
            elif scope is not None and not scope.startswith("/"):
                self.fail(
                    mapping.lines["scope"],
                    f"{where}.scope",
                    "must be a resource id beginning with '/' (for example "
                    "/subscriptions/{subscription})",
                )
                ok = False
            if ok and None not in (identity, role, scope):
                found.append(RoleSeed(str(identity), str(role), str(scope)))
        return tuple(found)

    def _faults(
        self, document: _Mapping, vaults: set[str]
    ) -> tuple[tuple[str | None, FaultPlan], ...]:
        section = self._mapping(document["faults"], document.lines["faults"], "faults")
        if section is None:
            return ()
        self._known_keys(section, ("resource_manager", "vaults"), "faults")
        found: list[tuple[str | None, FaultPlan]] = []
        if "resource_manager" in section:
            plan = self._fault_plan(
                section["resource_manager"],
                section.lines["resource_manager"],
                "faults.resource_manager",
            )
            if plan is not None:
                found.append((None, plan))
        if "vaults" in section:
            by_vault = self._mapping(section["vaults"], section.lines["vaults"], "faults.vaults")
            for name, entry in (by_vault or {}).items():
                where = f"faults.vaults.{name}"
                assert by_vault is not None
                if str(name).lower() not in vaults:
                    self.fail(by_vault.lines[name], where, f"no vault {name!r} in 'vaults'")
                    continue
                plan = self._fault_plan(entry, by_vault.lines[name], where)
                if plan is not None:
                    found.append((str(name), plan))
        return tuple(found)

    def _fault_plan(self, value: Any, line: int, where: str) -> FaultPlan | None:
        mapping = self._mapping(value, line, where)
        if mapping is None:
            return None
        self._known_keys(mapping, (*_FAULT_PLAN, *_FAULT_LISTS), where)
        before = len(self.problems)
        fields: dict[str, Any] = self._fields(mapping, _FAULT_PLAN, where)
        if "statuses" in mapping:
            statuses = self._sequence(
                mapping["statuses"], mapping.lines["statuses"], f"{where}.statuses"
            )
            if statuses is not None:
                for index, status in enumerate(statuses):
                    problem = _an_int(400, 599)(status)
                    if problem:
                        self.fail(statuses.lines[index], f"{where}.statuses[{index}]", problem)
                fields["statuses"] = tuple(statuses)
        if "operations" in mapping:
            operations = self._sequence(
                mapping["operations"], mapping.lines["operations"], f"{where}.operations"
            )
            if operations is not None:
                for index, operation in enumerate(operations):
                    problem = _a_string(operation)
                    if problem:
                        self.fail(operations.lines[index], f"{where}.operations[{index}]", problem)
                fields["operations"] = frozenset(str(o) for o in operations)
        if len(self.problems) > before:
            return None
        return FaultPlan(**fields)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _epoch(value: Any) -> tuple[int | None, str | None]:
    """Epoch seconds from a YAML date, date-time (no zone: UTC) or a number of epoch seconds."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp()), None
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()), None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, None
    if isinstance(value, str) and _ISO_DATE.match(value):
        return None, f"{value!r} is not a date or date-time YAML reads (like 2027-06-30T12:00:00Z)"
    return (
        None,
        "must be a date (2027-06-30), a date-time (2027-06-30T12:00:00Z) or epoch seconds, "
        f"not {_shown(value)}",
    )
