"""Environment-file messages: each at the offending key or value, in words, with suggestions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from keyvault_platform import schemas
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.target.builtin_roles import BUILTIN_ROLES, closest_builtin

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "environments" / "azure.example.yaml"

MINIMAL = """\
target:
  kind: emulator
tenant_id: 505e98a1-1937-5544-9101-666dc24d670c
subscription_id: d6d7404e-a81f-5a27-9f03-fc369126d9d8
resource_group:
  name: rg-x
  location: westeurope
vault:
  name: kv-x
access:
  - name: sync
    principal_id: da8846a1-530c-5981-8ea5-1c1b10c9e490
    role: Key Vault Secrets Officer
"""


def problems(tmp_path: Path, text: str, name: str = "env.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_environment(path)
    return [str(p).removeprefix(str(path)) for p in info.value.problems]


def test_an_unknown_key_is_reported_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("  name: kv-x", "  name: kv-x\n  purge_protect: no"))
    assert len(found) == 1
    assert found[0].startswith(
        ":10:3: vault: unknown field 'purge_protect' (did you mean 'purge_protection'?)"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "    scope: vaults",
            ":14:12: access[0].scope: must be 'vault' (the whole vault) or a "
            "mapping {secrets: [names]} (only the named secrets) (did you mean 'vault'?)",
        ),
        (
            "    scope: {secret: [a]}",
            ":14:13: access[0].scope: unknown field 'secret' "
            "(did you mean 'secrets'?); allowed: secrets",
        ),
        (
            "    scope: {secrets: [a_b]}",
            ":14:23: access[0].scope.secrets[0]: must be a secret "
            "name (1-127 letters, digits and hyphens)",
        ),
    ],
)
def test_each_scope_alternative_is_explained(tmp_path: Path, line: str, expected: str) -> None:
    found = problems(tmp_path, MINIMAL + line + "\n")
    assert expected in found, found


def test_rules_are_in_words_not_regular_expressions(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("  name: kv-x", "  name: kv_x")
        .replace("location: westeurope", "location: West Europe")
        .replace("tenant_id: 505e98a1", "tenant_id: x05e98a1")
        .replace("- name: sync", "- name: Sync")
    )
    found = problems(tmp_path, text)
    assert len(found) == 4, found
    assert not any("^" in p or "\\" in p or "{1," in p for p in found), found


def _patterns(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append((path, node))
        for key, value in node.items():
            if key != "x-error":
                found += _patterns(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _patterns(value, f"{path}/{index}")
    return found


@pytest.mark.parametrize("name", [schemas.ENVIRONMENT, schemas.SECRETS])
def test_every_pattern_in_the_schemas_has_words(name: str) -> None:
    schema = yaml.safe_load(schemas.schema_text(name))
    patterned = _patterns(schema)
    assert patterned
    for path, node in patterned:
        custom = node.get("x-error")
        worded = isinstance(custom, str) or (isinstance(custom, dict) and "pattern" in custom)
        assert worded or node.get("description"), f"{name}{path} shows a bare pattern"


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ('  name: "kv-x\\n"', 9),
        ('subscription_id: "d6d7404e-a81f-5a27-9f03-fc369126d9d8\\n"', 4),
        ('    principal_id: "da8846a1-530c-5981-8ea5-1c1b10c9e490 "', 12),
        ('  name: "rg-x\\t"', 6),
    ],
)
def test_names_and_ids_with_surrounding_whitespace_are_refused(
    tmp_path: Path, key: str, line: int
) -> None:
    field = key.split(":")[0]
    lines = MINIMAL.splitlines()
    index = next(
        i for i, text in enumerate(lines) if text.startswith(field + ":") and i + 1 == line
    )
    lines[index] = key
    found = problems(tmp_path, "\n".join(lines) + "\n")
    assert any(
        p.startswith(f":{line}:") and "starts or ends with whitespace" in p for p in found
    ), found


def test_a_misspelt_role_is_found_offline_with_the_built_in_name(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("Secrets Officer", "Secret Officer"))
    assert found == [
        ":13:11: access[0].role: unknown role 'Key Vault Secret Officer' (did you mean "
        "'Key Vault Secrets Officer'?); built-in role names are listed in docs/provisioning.md"
    ]


def test_built_in_and_custom_role_names_pass() -> None:
    assert all(closest_builtin(name) is None for name in BUILTIN_ROLES)
    assert closest_builtin("key vault secrets user") is None  # Azure ignores case
    assert closest_builtin("Contoso Secret Rotator") is None  # a custom role: Azure resolves it
    assert closest_builtin("Key Vault Secrets Users") == "Key Vault Secrets User"


def test_the_examples_placeholder_ids_are_refused_once_copied(tmp_path: Path) -> None:
    copy = tmp_path / "prod.yaml"
    shutil.copy(EXAMPLE, copy)
    with pytest.raises(InputError) as info:
        load_environment(copy)
    found = [(p.location.line, p.message.split(":")[0]) for p in info.value.problems]
    assert found == [
        (12, "tenant_id"),
        (13, "subscription_id"),
        (50, "access[0].principal_id"),
        (55, "access[1].principal_id"),
    ]
    assert all("placeholder" in p.message for p in info.value.problems)


def test_the_example_itself_validates_but_is_refused_when_used() -> None:
    env = load_environment(EXAMPLE)
    with pytest.raises(InputError, match="still the example's placeholder id"):
        env.target()
