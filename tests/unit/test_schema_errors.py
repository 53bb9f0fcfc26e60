"""The one schema-error describer: wording, positions, never the value."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core.errors import InputError
from keyvault_platform.core.schema_errors import field_path, schema_problems
from keyvault_platform.core.yaml_source import parse_yaml
from keyvault_platform.sync.manifests import load_manifests

SECRET = "hunter2-do-not-show"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "count": {"type": "integer", "minimum": 1, "maximum": 9},
        "name": {"type": "string", "pattern": "^[a-z]+$", "description": "lower-case letters"},
        "code": {"type": "string", "pattern": "^[0-9]+$", "x-error": {"pattern": "digits only"}},
        "label": {"type": "string", "maxLength": 4},
        "kind": {"enum": ["a", "b"]},
        "fixed": {"not": {"const": "x"}, "x-error": "x is taken"},
        "pair": {"type": "object", "required": ["left", "right"]},
        "tags": {"type": "object", "propertyNames": {"maxLength": 3}},
        "source": {
            "title": "source",
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {"one": {}, "two": {}, "three": {}},
        },
        "scope": {
            "oneOf": [
                {"const": "vault"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["secrets"],
                    "properties": {"secrets": {"type": "array", "minItems": 1}},
                },
            ]
        },
    },
}


def problems(text: str) -> list[str]:
    document = parse_yaml(textwrap.dedent(text), "f.yaml")
    return [str(p) for p in schema_problems(document, Draft202012Validator(SCHEMA))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"enabled: {SECRET}", "f.yaml:1:10: enabled: must be true or false, not a string"),
        ("count: 0", "f.yaml:1:8: count: must be at least 1"),
        ("count: 2.5", "f.yaml:1:8: count: must be a whole number, not a decimal number"),
        ("label: 12", "f.yaml:1:8: label: must be a string, not a number (quote it)"),
        (f"label: {SECRET}", "f.yaml:1:8: label: must be at most 4 characters"),
        (f"kind: {SECRET}", "f.yaml:1:7: kind: must be one of: a, b"),
        (
            f"name: {SECRET}",
            "f.yaml:1:7: name: must be lower-case letters",
        ),
        (f"code: {SECRET}", "f.yaml:1:7: code: digits only"),
        ("fixed: x", "f.yaml:1:8: fixed: x is taken"),
        ("pair: {}", "f.yaml:1:7: pair: 'left' and 'right' are required"),
        ("pair: {left: 1}", "f.yaml:1:7: pair: 'right' is required"),
        ("source: {}", "f.yaml:1:9: source: give exactly one source: one, two or three"),
        (
            "source: {one: 1, two: 2}",
            "f.yaml:1:9: source: give exactly one source: one, two or three",
        ),
        ("scope: other", "f.yaml:1:8: scope: must be 'vault' or a mapping"),
        ("scope: {secrets: []}", "f.yaml:1:18: scope.secrets: must not be empty"),
        (
            "enabled: true\nenabeld: true",
            "f.yaml:2:1: (document): unknown field 'enabeld' (did you mean 'enabled'?); "
            "allowed: code, count, enabled, fixed, kind, label, name, pair, scope, source, tags",
        ),
        ("tags:\n  ok: 1\n  toolong: 2", "f.yaml:3:3: tags: a key must be at most 3 characters"),
    ],
)
def test_each_refusal_in_words_at_its_place(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_values_are_never_echoed() -> None:
    text = "\n".join(f"{key}: {SECRET}" for key in ("enabled", "count", "name", "label", "kind"))
    found = problems(text)
    assert len(found) == 5
    assert not any(SECRET in p for p in found)


def test_paths_read_like_the_data() -> None:
    assert field_path(("secrets", 0, "value", "env")) == "secrets[0].value.env"
    assert field_path(("vault", "network_acls", "ip_rules", 2)) == "vault.network_acls.ip_rules[2]"
    assert field_path(()) == "(document)"


def test_yaml_dates_are_validated_as_strings() -> None:
    assert problems("label: 2027-06-30") == ["f.yaml:1:8: label: must be at most 4 characters"]


ENVIRONMENT = """\
target:
  kind: emulator
tenant_id: 505e98a1-1937-5544-9101-666dc24d670c
subscription_id: d6d7404e-a81f-5a27-9f03-fc369126d9d8
resource_group:
  name: rg-x
  location: westeurope
vault:
  name: kv-x
  purge_protection: "yes"
"""

MANIFEST = """\
scope: acme
secrets:
  - name: s
    value: {env: S}
    enabled: "yes"
"""


def test_environment_files_and_manifests_are_described_alike(tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text(ENVIRONMENT)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "acme.yaml").write_text(MANIFEST)
    with pytest.raises(InputError) as environment:
        load_environment(tmp_path / "env.yaml", root=tmp_path)
    with pytest.raises(InputError) as manifest:
        load_manifests([tmp_path / "m"], root=tmp_path, environ={"S": "x"})
    assert [str(p) for p in environment.value.problems] == [
        "env.yaml:10:21: vault.purge_protection: must be true or false, not a string"
    ]
    assert [str(p) for p in manifest.value.problems] == [
        "m/acme.yaml:5:14: secrets[0].enabled: must be true or false, not a string"
    ]
