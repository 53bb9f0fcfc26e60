"""The config root: names, relative paths and what may leave it (pure, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyvault_platform.config.environment import load_environment
from keyvault_platform.config.root import ConfigRoot
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.yaml_source import InputError

MINIMAL = """\
target: {kind: emulator, state_dir: state/emu}
tenant_id: 505e98a1-1937-5544-9101-666dc24d670c
subscription_id: d6d7404e-a81f-5a27-9f03-fc369126d9d8
resource_group: {name: rg-a, location: westeurope}
vault: {name: kv-a}
sync: {manifests: config/secrets}
"""


def write(path: Path, text: str = MINIMAL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_names_are_looked_up_in_environments_then_infra_environments(tmp_path: Path) -> None:
    root = ConfigRoot.at(tmp_path)
    legacy = write(tmp_path / "infra/environments/dev.yaml")
    assert root.environment_file("dev") == legacy
    preferred = write(tmp_path / "environments/dev.yaml")
    assert root.environment_file("dev") == preferred
    write(tmp_path / "environments/qa.yml")
    assert root.environment_file("qa") == tmp_path / "environments/qa.yml"
    assert [p.stem for p in root.environment_files()] == ["dev", "qa", "dev"]


def test_a_path_is_taken_from_the_root_not_looked_up(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere/prod.yaml")
    root = ConfigRoot.at(tmp_path)
    assert root.environment_file("elsewhere/prod.yaml") == tmp_path / "elsewhere/prod.yaml"
    assert root.environment_file(Path("/abs/x.yaml")) == Path("/abs/x.yaml")


def test_relative_paths_in_a_file_resolve_against_the_root_not_the_file(tmp_path: Path) -> None:
    file = write(tmp_path / "deep/down/env.yaml")
    env = load_environment(file, root=tmp_path)
    assert env.sync.manifests == tmp_path / "config/secrets"
    assert env.target_spec.state_dir == tmp_path / "state/emu"
    assert env.manifest_dir == tmp_path / "config/secrets"
    assert env.root == tmp_path.resolve()


def test_manifests_default_to_secrets_under_the_root(tmp_path: Path) -> None:
    file = write(
        tmp_path / "environments/a.yaml", MINIMAL.replace("sync: {manifests: config/secrets}\n", "")
    )
    env = load_environment("a", root=tmp_path)
    assert env.path == file
    assert env.manifest_dir == tmp_path.resolve() / "secrets"


def test_the_root_defaults_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "environments/a.yaml")
    monkeypatch.chdir(tmp_path)
    env = load_environment("a")
    assert env.sync.manifests == tmp_path.resolve() / "config/secrets"


def test_manifests_outside_the_root_are_refused_with_their_location(tmp_path: Path) -> None:
    write(tmp_path / "environments/a.yaml", MINIMAL.replace("config/secrets", "../other"))
    with pytest.raises(InputError) as refused:
        load_environment("a", root=tmp_path)
    (problem,) = refused.value.problems
    assert str(problem).startswith("environments/a.yaml:6:")
    assert "outside the config directory" in problem.message


def test_a_missing_root_is_actionable(tmp_path: Path) -> None:
    with pytest.raises(ActionableError, match="does not exist or is not a directory"):
        ConfigRoot.at(tmp_path / "missing")


def test_show_is_relative_inside_the_root(tmp_path: Path) -> None:
    root = ConfigRoot.at(tmp_path)
    assert root.show(tmp_path / "secrets/a.yaml") == "secrets/a.yaml"
    assert root.show(Path("/elsewhere/b")) == "/elsewhere/b"
    assert root.contains(Path("secrets")) and not root.contains(Path("../x"))


def test_rules_beyond_the_schema_are_reported_with_the_schema_problems(tmp_path: Path) -> None:
    text = MINIMAL.replace("sync: {manifests: config/secrets}\n", "sync: {manifests: ../out}\n")
    text = text.replace("tenant_id: 505e98a1-1937-5544-9101-666dc24d670c", "tenant_id: nope")
    text += (
        "access:\n"
        "  - {name: a, principal_id: 97885749-d675-5932-8882-432e09ee7a95, role: Reader}\n"
        "  - {name: a, principal_id: 97885749-d675-5932-8882-432e09ee7a95, role: Owner}\n"
    )
    write(tmp_path / "environments/a.yaml", text)
    with pytest.raises(InputError) as refused:
        load_environment("a", root=tmp_path)
    messages = [str(p) for p in refused.value.problems]
    assert any(":2:" in m and "tenant_id" in m for m in messages), messages  # the schema
    assert any("duplicate grant name 'a'" in m for m in messages), messages  # beyond it
    assert any("outside the config directory" in m for m in messages), messages
