"""docs/emulator.md documents every configuration key, admin action and command there is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from keyvault_emulator.__main__ import build_parser
from keyvault_emulator.config_file import example_text

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "emulator.md").read_text(encoding="utf-8")
ADMIN = (ROOT / "keyvault-emulator" / "keyvault_emulator" / "admin.py").read_text(encoding="utf-8")
def _keys(value: Any, parent: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            if not (parent == "faults.vaults" or parent.endswith("tags")):
                found.add(str(key))
            found |= _keys(child, f"{parent}.{key}".lstrip("."))
    elif isinstance(value, list):
        for child in value:
            found |= _keys(child, parent)
    return found


def test_the_example_uses_every_key_the_checker_knows() -> None:
    from keyvault_emulator import config_file

    known = set(config_file._TOP_LEVEL) | set(config_file._VAULT) | set(config_file._SECRET)
    known |= (
        set(config_file._IDENTITY) | set(config_file._FAULT_PLAN) | set(config_file._THROTTLING)
    )
    known |= set(config_file._ARM_THROTTLING) | set(config_file._FAULT_LISTS)
    known |= {"secrets", "value", "tags", "not_before", "expires", "identity", "role", "scope"}
    known |= {"vault", "resource_manager", "vaults"}
    assert known <= _keys(yaml.safe_load(example_text()))


@pytest.mark.parametrize("key", sorted(_keys(yaml.safe_load(example_text()))))
def test_every_configuration_key_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC, f"docs/emulator.md has no table row for {key}"


@pytest.mark.parametrize(
    "call", sorted(set(re.findall(r'method == "(GET|POST)" and action == "([a-z-]+)"', ADMIN)))
)
def test_every_admin_action_is_documented(call: tuple[str, str]) -> None:
    method, action = call
    assert f"| `{method} {action}" in DOC


def test_every_command_is_documented() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names = [f"{name} {n}" for n in nested[0].choices] if nested else [name]
        for full in names:
            assert f"`{full}" in DOC, f"docs/emulator.md does not describe `{full}`"
