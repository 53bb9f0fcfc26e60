"""Environment files: schema problems with positions, defaults, the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core.yaml_source import InputError

ENVIRONMENTS_DIR = Path(__file__).resolve().parents[2] / "infra" / "environments"

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
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        load_environment(write(tmp_path, text))
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("name", ["local.yaml", "azure.example.yaml"])
def test_shipped_environments_load(name: str) -> None:
    env = load_environment(ENVIRONMENTS_DIR / name)
    assert env.vault.purge_protection and env.vault.rbac_authorization
    assert env.vault.soft_delete_retention_days == 90
    assert env.access


def test_local_environment_names_the_emulator_identities() -> None:
    from keyvault_emulator.config import stable_id

    env = load_environment("local")
    principals = {g.principal_id for g in env.access}
    assert stable_id("principal", "app") in principals
    assert stable_id("principal", "sync") in principals
    assert env.target_spec.kind == "emulator"
    assert env.sync.identity == "sync"


def test_defaults_are_stricter_than_azure(tmp_path: Path) -> None:
    env = load_environment(write(tmp_path, MINIMAL))
    vault = env.vault
    assert (vault.soft_delete_retention_days, vault.purge_protection) == (90, True)
    assert vault.rbac_authorization is True
    assert vault.on_soft_deleted == "fail"
    assert vault.location == "westeurope"
    assert env.resource_group.create is True
    assert env.access == ()


def test_problems_carry_file_line_and_column(tmp_path: Path) -> None:
    extra = "name: kv--x\n  soft_delete_retention_days: 3\n  colour: red"
    text = MINIMAL.replace("name: kv-x", extra)
    found = problems(tmp_path, text)
    assert any(":9:9: vault.name" in p for p in found), found
    assert any(":10:31: vault.soft_delete_retention_days" in p for p in found), found
    assert any("unknown field 'colour'" in p for p in found), found


def test_invalid_vault_names_are_refused(tmp_path: Path) -> None:
    for bad in ("kv", "1vault", "vault-", "a" * 25, "kv_under"):
        found = problems(tmp_path, MINIMAL.replace("name: kv-x", f"name: {bad}"))
        assert any("vault.name: must be 3-24 letters" in p for p in found), (bad, found)
        assert not any("^" in p for p in found), found  # rules in words, no regular expression


def test_duplicate_grants_and_bad_ip_rules(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  network_acls:\n    ip_rules: [300.1.1.1]\n"
        "access:\n"
        "  - {name: a, principal_id: 97885749-d675-5932-8882-432e09ee7a95, role: Reader}\n"
        "  - {name: a, principal_id: 97885749-d675-5932-8882-432e09ee7a95, role: Reader}\n"
    )
    found = problems(tmp_path, text)
    assert any("duplicate grant name 'a'" in p for p in found), found
    assert any("same role to the same principal" in p for p in found), found
    assert any("ip_rules[0]" in p for p in found), found


def test_azure_target_rejects_emulator_settings(tmp_path: Path) -> None:
    text = MINIMAL.replace("kind: emulator", "kind: azure\n  state_dir: /tmp/x")
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'env.yaml'}:2:3: target: state_dir and identity are for the emulator "
        "only; remove them when kind is azure"
    ]


def test_duplicate_keys_and_missing_file(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "vault:\n  name: kv-y\n")
    assert any("duplicate key 'vault'" in p for p in found)
    with pytest.raises(InputError, match="file not found"):
        load_environment(tmp_path / "missing.yaml")


def test_secret_scoped_grant(tmp_path: Path) -> None:
    text = MINIMAL + (
        "access:\n"
        "  - name: billing\n"
        "    principal_id: 97885749-D675-5932-8882-432E09EE7A95\n"
        "    role: Key Vault Secrets User\n"
        "    scope: {secrets: [acme--billing]}\n"
    )
    grant = load_environment(write(tmp_path, text)).access[0]
    assert grant.secrets == ("acme--billing",) and not grant.at_vault_scope
    assert grant.principal_id == "97885749-d675-5932-8882-432e09ee7a95"
