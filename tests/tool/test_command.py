"""The one command: subcommands, --help with examples and exit codes, --version, --chdir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from keyvault_platform import __version__
from keyvault_platform.cli.main import build_parser, run

from .tool_helpers import kvp

SUBCOMMANDS = ("validate", "provision", "sync", "schema", "init", "import")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert kvp("--version").code == 0
    assert capsys.readouterr().out.strip() == f"keyvault-platform {__version__}"
    assert __version__ != "0+unknown", "the tests run against an installed distribution"


def test_every_job_of_the_makefile_is_a_subcommand() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {*SUBCOMMANDS, "emulator"}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_with_examples_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kvp(command, "--help").code == 0
    text = capsys.readouterr().out
    assert f"usage: keyvault-platform {command}" in text
    assert "examples:\n  keyvault-platform " in text
    assert "exit codes: 0 " in text and "1 error" in text and "130 interrupted" in text
    if command in ("provision", "sync"):
        assert "2 changes pending (with --plan)" in text


def test_the_emulator_subcommand_is_the_emulator_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["emulator", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "usage: keyvault-platform emulator" in text
    assert "serve" in text and "audit" in text


def test_chdir_to_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    ran = kvp("--chdir", str(tmp_path / "nowhere"), "validate")
    assert ran.code == 1
    assert "--chdir" in ran.stderr and "no such directory" in ran.stderr


def test_chdir_is_applied_first_and_put_back(tmp_path: Path) -> None:
    before = os.getcwd()
    assert kvp("init", str(tmp_path / "cfg")).code == 0
    ran = kvp("--chdir", str(tmp_path / "cfg"), "validate")
    assert ran.code == 0, ran.describe()
    assert os.getcwd() == before


def test_an_unknown_environment_says_where_it_looked_and_what_exists(tmp_path: Path) -> None:
    assert kvp("init", str(tmp_path / "cfg")).code == 0
    ran = kvp("--chdir", str(tmp_path / "cfg"), "provision", "--env", "prod", "--plan")
    assert ran.code == 1
    assert "environment 'prod' not found" in ran.stderr
    assert "environments/prod.yaml and infra/environments/prod.yaml" in ran.stderr
    assert "environments here: azure.example, local" in ran.stderr


def test_schema_prints_the_packaged_manifest_schema(tmp_path: Path) -> None:
    ran = kvp("schema")
    assert ran.code == 0
    assert "$schema: https://json-schema.org/draft/2020-12/schema" in ran.stdout
    repository_copy = Path(__file__).resolve().parents[2] / "secrets.schema.yaml"
    assert ran.stdout == repository_copy.read_text(encoding="utf-8")
    written = kvp(
        "--chdir", str(tmp_path), "schema", "environment", "--format", "json", "--write", "e.json"
    )
    assert written.code == 0, written.describe()
    schema = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert "target" in schema["properties"]


@pytest.mark.parametrize("command", ["provision", "sync"])
def test_markdown_output_renders_plans_only(command: str, tmp_path: Path) -> None:
    ran = kvp("--chdir", str(tmp_path), command, "--output", "markdown")
    assert ran.code == 1
    assert "--output markdown renders a plan: use it with --plan" in ran.stderr


def test_markdown_is_not_an_output_of_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = kvp("--chdir", str(tmp_path), "validate", "--output", "markdown")
    assert ran.code == 2 and "invalid choice: 'markdown'" in capsys.readouterr().err
