"""The emulator configuration file: each problem located (file:line, key, what), no value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from keyvault_emulator.config_file import ConfigError, example_text, parse_config

HERE = Path("emulator.yaml")


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as bad:
        parse_config(textwrap.dedent(text), HERE)
    return str(bad.value).splitlines()[1:]


def test_the_shipped_example_is_valid_and_uses_every_section() -> None:
    config = parse_config(example_text(), HERE)
    vault = config.vaults[0]
    assert vault.name == "kv-app-local" and vault.retention_days == 7
    assert [s.name for s in vault.secrets] == ["database-password", "api-key"]
    assert vault.secrets[1].expires == 1909051200  # 2030-06-30T12:00:00Z
    assert {r.role for r in config.role_assignments} >= {"Key Vault Secrets User"}
    assert [name for name, _ in config.faults] == [None, "kv-app-local"]
    assert "reporting" in {i.name for i in config.identities}
    assert config.throttling.writes == 300 and config.arm_throttling.reads == 12000


def test_an_empty_file_is_the_defaults() -> None:
    assert parse_config("", HERE).identities[0].name == "deployer"


def test_every_problem_is_reported_with_its_line_and_key() -> None:
    problems = _problems(
        """\
        tenant_id: not-a-guid
        identitees: [a]
        vaults:
          - name: kv-ok
            retention_days: 3
            secrets:
              - name: "bad name"
                value: "x"
              - name: fine
          - name: "-bad"
        role_assignments:
          - identity: nobody
            role: Key Vault Secret User
            vault: kv-missing
        throttling: {writes: 0}
        faults:
          vaults:
            kv-elsewhere: {error_rate: 2}
        """
    )
    expected = [
        ("emulator.yaml:1: tenant_id", "'not-a-guid' is not a GUID (like 00000000-0000-000"),
        ("emulator.yaml:2: identitees", "unknown key (did you mean 'identities'?)"),
        ("emulator.yaml:5: vaults[0].retention_days", "must be at least 7, not 3"),
        (
            "emulator.yaml:7: vaults[0].secrets[0].name",
            "'bad name' is not a secret name: 1-127 letters, di",
        ),
        ("emulator.yaml:9: vaults[0].secrets[1]", "'value' is required"),
        ("emulator.yaml:10: vaults[1].name", "'-bad' is not a vault name: 3-24 letters, digits a"),
        (
            "emulator.yaml:12: role_assignments[0].identity",
            "unknown identity 'nobody'; declared: app, deployer",
        ),
        (
            "emulator.yaml:13: role_assignments[0].role",
            "unknown role 'Key Vault Secret User' (did you mean",
        ),
        (
            "emulator.yaml:14: role_assignments[0].vault",
            "no vault 'kv-missing' in 'vaults'; use 'scope' for",
        ),
        ("emulator.yaml:15: throttling.writes", "must be at least 1, not 0"),
        ("emulator.yaml:18: faults.vaults.kv-elsewhere", "no vault 'kv-elsewhere' in 'vaults'"),
    ]
    assert len(problems) == len(expected), problems
    for problem, (where, what) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{where}: {what}"), (problem, where, what)


def test_a_secret_value_is_never_quoted_in_a_problem() -> None:
    problems = _problems(
        """\
        vaults:
          - name: kv-one
            secrets:
              - {name: a, value: 12345678}
              - {name: b, value: "%s"}
        """
        % ("hunter2" * 4000)
    )
    text = "\n".join(problems)
    assert "12345678" not in text and "hunter2" not in text
    assert "vaults[0].secrets[0].value: must be text (quote it)" in text
    assert "vaults[0].secrets[1].value: is too large: Key Vault allows 25600 bytes" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("port: [1\n", "emulator.yaml:2: not valid YAML"),
        ("port: 1\nport: 2\n", "emulator.yaml:2: port: duplicate key (first on line 1)"),
        ("- a\n", "emulator.yaml:1: the file must be a mapping of keys"),
        ("vaults: {name: x}\n", "emulator.yaml:1: vaults: must be a list, not a mapping"),
        (
            "role_assignments:\n  - {identity: app, role: Owner}\n",
            "emulator.yaml:2: role_assignments[0]: give exactly one of 'scope' (a resource id) "
            "or 'vault' (a vault name)",
        ),
        (
            "vaults:\n  - name: kv-a\n    secrets:\n      - {name: s, value: v, "
            "not_before: 2030-01-02, expires: 2030-01-01}\n",
            "emulator.yaml:4: vaults[0].secrets[0].expires: must be after not_before",
        ),
        (
            "identities: [app, App]\n",
            "emulator.yaml:1: identities[1]: identity 'App' is already declared on line 1",
        ),
    ],
)
def test_shapes(text: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in _problems(text)), _problems(text)


def test_an_unreadable_file_is_a_located_error(tmp_path: Path) -> None:
    from keyvault_emulator.config import load_config

    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read it"):
        load_config(tmp_path / "missing.yaml")
