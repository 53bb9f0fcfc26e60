"""The environment file's ``target:`` picks the target class, and for Azure, the cloud."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from keyvault_platform import schemas
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.target.azure import AzureTarget
from keyvault_platform.target.clouds import (
    AZURE_CHINA_CLOUD,
    AZURE_PUBLIC_CLOUD,
    AZURE_US_GOVERNMENT,
    CLOUDS,
)
from keyvault_platform.target.emulator import EmulatorTarget

REST = """\
tenant_id: 505E98A1-1937-5544-9101-666dc24d670c
subscription_id: d6d7404e-a81f-5a27-9f03-fc369126d9d8
resource_group:
  name: rg-x
  location: westeurope
vault:
  name: kv-x
"""


def load(tmp_path: Path, target: str):
    path = tmp_path / "env.yaml"
    path.write_text(f"target:\n{target}{REST}", encoding="utf-8")
    return load_environment(path)


def problems(tmp_path: Path, target: str) -> list[str]:
    with pytest.raises(InputError) as info:
        load(tmp_path, target)
    return [str(p) for p in info.value.problems]


def test_azure_defaults_to_the_public_cloud(tmp_path: Path) -> None:
    target = load(tmp_path, "  kind: azure\n").target()
    assert isinstance(target, AzureTarget)
    assert target.cloud is AZURE_PUBLIC_CLOUD
    assert target.subscription_id == "d6d7404e-a81f-5a27-9f03-fc369126d9d8"
    assert target.tenant_id == "505e98a1-1937-5544-9101-666dc24d670c"


@pytest.mark.parametrize(
    ("spelling", "cloud"),
    [
        ("AzureChinaCloud", AZURE_CHINA_CLOUD),
        ("china", AZURE_CHINA_CLOUD),
        ("azureusgovernment", AZURE_US_GOVERNMENT),
        ("USGovernment", AZURE_US_GOVERNMENT),
        ("Public", AZURE_PUBLIC_CLOUD),
    ],
)
def test_the_file_chooses_the_cloud(tmp_path: Path, spelling: str, cloud) -> None:
    env = load(tmp_path, f"  kind: azure\n  cloud: {spelling}\n")
    assert env.target_spec.cloud is cloud
    target = env.target()
    assert isinstance(target, AzureTarget) and target.cloud is cloud


def test_an_unknown_cloud_is_a_located_error_naming_the_known_ones(tmp_path: Path) -> None:
    found = problems(tmp_path, "  kind: azure\n  cloud: AzureGermanCloud\n")
    assert len(found) == 1, found
    assert ":3:10: target.cloud: unknown cloud; known clouds: AzureCloud (public)" in found[0]
    assert "AzureChinaCloud (china), AzureUSGovernment (usgovernment)" in found[0]


def test_a_cloud_is_refused_for_the_emulator(tmp_path: Path) -> None:
    found = problems(tmp_path, "  kind: emulator\n  cloud: AzureCloud\n")
    assert any("target: cloud is for kind azure only" in p for p in found), found


def test_the_schema_accepts_the_table_and_nothing_else() -> None:
    """The schema's pattern is written out by hand: it must list exactly the table's names."""
    schema = yaml.safe_load(schemas.schema_text(schemas.ENVIRONMENT))
    pattern = re.compile(schema["properties"]["target"]["properties"]["cloud"]["pattern"])
    names = [n for c in CLOUDS.values() for n in (c.name, *c.aliases)]
    for name in names:
        assert pattern.search(name) and pattern.search(name.upper()), name
    alternatives = pattern.pattern.removeprefix("^(?i:").removesuffix(")$").split("|")
    assert sorted(alternatives) == sorted(n.lower() for n in names)


def test_emulator_targets_keep_their_state_dir_and_identity(tmp_path: Path) -> None:
    env = load(tmp_path, f"  kind: emulator\n  state_dir: {tmp_path}\n  identity: sync\n")
    target = env.target()
    assert isinstance(target, EmulatorTarget)
    assert (target.state_dir, target.default_identity) == (tmp_path, "sync")
    other = env.target(state_dir=tmp_path / "other", identity="app")
    assert isinstance(other, EmulatorTarget)
    assert (other.state_dir, other.default_identity) == (tmp_path / "other", "app")
