"""``init``: a new config repository works at once: validate, plan and apply on the emulator."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from keyvault_platform.config.environment import load_environment
from keyvault_platform.scaffold import FILES

from keyvault_emulator.testing import RunningEmulator

from .tool_helpers import kvp, scaffolded


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return scaffolded(tmp_path / "team-config", org="acme")


def test_init_writes_a_complete_repository(config: Path) -> None:
    files = sorted(p.relative_to(config).as_posix() for p in config.rglob("*") if p.is_file())
    assert files == sorted(
        [*(dest.replace("@@ORG@@", "acme") for dest in FILES.values()), "secrets.schema.yaml"]
    )
    for path in config.rglob("*.y*ml"):
        yaml.safe_load(path.read_text(encoding="utf-8"))  # every YAML file parses
    text = (config / "tool-requirements.txt").read_text(encoding="utf-8")
    assert "keyvault-platform==" in text
    assert "@@" not in "".join(
        p.read_text(encoding="utf-8") for p in config.rglob("*") if p.is_file()
    )


def test_the_scaffold_makefile_and_pipelines_call_only_the_installed_command(config: Path) -> None:
    makefile = (config / "Makefile").read_text(encoding="utf-8")
    assert "python -m" not in makefile and "scripts" not in makefile
    for pipeline in (".github/workflows/keyvault.yml", "azure-pipelines.yml"):
        text = (config / pipeline).read_text(encoding="utf-8")
        assert "pip install --only-binary ':all:' -r tool-requirements.txt" in text
        assert "keyvault-platform validate --format " in text
        assert "make " not in text.replace("never a make target", "")
        # POSIX shells read $ENV at start-up: the variable is KVP_ENV, as in the Makefile.
        assert re.search(r"^\s*(- name: )?ENV:", text, re.M) is None
        assert "KVP_ENV" in text and "KVP_ENV" in makefile


def test_init_refuses_to_overwrite_and_writes_nothing(config: Path) -> None:
    (config / "Makefile").write_text("mine\n")
    (config / "README.md").unlink()
    ran = kvp("init", str(config))
    assert ran.code == 1
    assert "already has" in ran.stderr and "Makefile" in ran.stderr
    assert (config / "Makefile").read_text() == "mine\n"
    assert not (config / "README.md").exists()
    assert kvp("init", str(config), "--force").code == 0
    assert (config / "Makefile").read_text() != "mine\n"


def test_init_refuses_an_invalid_org(tmp_path: Path) -> None:
    ran = kvp("init", str(tmp_path / "x"), "--org", "GLOBAL")
    assert ran.code == 1 and "--org" in ran.stderr
    assert not (tmp_path / "x").exists()


def test_a_new_repository_plans_and_applies_on_the_emulator(config: Path) -> None:
    emulator = RunningEmulator(state_dir=config / ".state" / "emulator", persist=False)
    try:
        chdir = ("--chdir", str(config))
        assert kvp(*chdir, "validate").code == 0
        planned = kvp(*chdir, "provision", "--env", "local", "--plan")
        assert planned.code == 2, planned.describe()
        assert "Plan: 4 to add, 0 to change, 0 to destroy." in planned.stdout
        applied = kvp(*chdir, "provision", "--env", "local", "--auto-approve")
        assert applied.code == 0, applied.describe()
        assert "Apply complete! Resources: 4 added" in applied.stdout
        sync_plan = kvp(*chdir, "sync", "--env", "local", "--plan")
        assert sync_plan.code == 2, sync_plan.describe()
        assert "Plan: 3 to add, 0 to change, 0 to destroy." in sync_plan.stdout
        synced = kvp(*chdir, "sync", "--env", "local", "--auto-approve")
        assert synced.code == 0, synced.describe()
        assert "Apply complete! Resources: 3 added" in synced.stdout
        for command in ("provision", "sync"):
            again = kvp(*chdir, command, "--env", "local", "--plan")
            assert again.code == 0, again.describe()
            assert "No changes." in again.stdout
        env = load_environment("local", root=config)
        target = env.target()
        try:
            url = target.vault_url(env.vault.name, resource_group=env.resource_group.name)
            with target.secret_client(url, identity="sync") as client:
                names = sorted(p.name for p in client.list_properties_of_secrets())
        finally:
            target.close()
        assert names == [
            "GLOBAL--session-signing-key",
            "GLOBAL--status-page-url",
            "acme--api-signing-key",
        ]
    finally:
        emulator.stop()


@pytest.mark.parametrize("name", ["local.yaml", "azure.example.yaml"])
def test_the_scaffold_environments_say_what_the_reference_ones_say(name: str) -> None:
    """The templates are this repository's environments, with comments for a new home."""
    reference = Path(__file__).resolve().parents[2] / "infra" / "environments" / name
    template = files("keyvault_platform.scaffold").joinpath("templates", "environments", name)
    assert yaml.safe_load(template.read_text(encoding="utf-8")) == yaml.safe_load(
        reference.read_text(encoding="utf-8")
    )
