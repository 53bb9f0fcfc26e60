"""``validate``: offline, every problem of every file with file:line:col, no socket opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .tool_helpers import kvp, scaffolded

BAD_ENVIRONMENT = """\
target: {kind: emulator}
tenant_id: not-a-uuid
subscription_id: d6d7404e-a81f-5a27-9f03-fc369126d9d8
resource_group: {name: rg-a, location: westeurope}
vault: {name: kv-a, soft_delete_retention_days: 3}
"""

BAD_MANIFEST = """\
scope: contoso
secrets:
  - name: bad_name
    value: {env: DB_PASSWORD}
  - name: flag
    value: {literal: "on"}
"""


def test_a_scaffolded_repository_is_valid_without_any_secret_value(tmp_path: Path) -> None:
    directory = scaffolded(tmp_path / "cfg")
    ran = kvp("--chdir", str(directory), "validate")
    assert ran.code == 0, ran.describe()
    assert ran.stdout == "Valid: 2 environment files, 2 manifests (3 secrets).\n"


def test_env_sources_are_not_read_offline_but_are_with_values(tmp_path: Path) -> None:
    directory = scaffolded(tmp_path / "cfg")
    (directory / "secrets/extra.yaml").write_text(
        "scope: contoso-extra\nsecrets:\n  - name: db\n    value: {env: KVP_TEST_UNSET_VAR}\n"
    )
    assert kvp("--chdir", str(directory), "validate").code == 0
    ran = kvp("--chdir", str(directory), "validate", "--values")
    assert ran.code == 1
    assert "secrets/extra.yaml:4:" in ran.stderr
    assert "environment variable KVP_TEST_UNSET_VAR is not set" in ran.stderr


def test_every_problem_of_every_file_is_reported_with_its_location(tmp_path: Path) -> None:
    directory = scaffolded(tmp_path / "cfg")
    (directory / "environments/broken.yaml").write_text(BAD_ENVIRONMENT)
    (directory / "secrets/contoso.yaml").write_text(BAD_MANIFEST)
    (directory / "secrets/GLOBAL.yaml").write_text("scope: GLOBAL\nsecrets: {}\n")
    ran = kvp("--chdir", str(directory), "validate")
    assert ran.code == 1
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error: ")]
    files = {line.removeprefix("error: ").split(":", 1)[0] for line in errors}
    assert files == {"environments/broken.yaml", "secrets/contoso.yaml", "secrets/GLOBAL.yaml"}
    for line in errors:  # file:line:col: message
        where = line.removeprefix("error: ").split(": ", 1)[0]
        _file, row, column = where.rsplit(":", 2)
        assert row.isdigit() and column.isdigit(), line
    text = ran.stderr
    assert "environments/broken.yaml:2:" in text  # the tenant id
    assert "environments/broken.yaml:5:" in text  # retention below 7 days
    assert "secrets/contoso.yaml:3:" in text  # the bad name
    assert "secrets/contoso.yaml:6:" in text  # a literal without sensitive: false
    assert "secrets/GLOBAL.yaml:2:" in text
    assert ran.stdout.startswith("Validation failed: ")
    assert "DB_PASSWORD is not set" not in text  # not read offline


def test_json_output_lists_diagnostics_then_the_verdict(tmp_path: Path) -> None:
    directory = scaffolded(tmp_path / "cfg")
    (directory / "environments/broken.yaml").write_text(BAD_ENVIRONMENT)
    ran = kvp("--chdir", str(directory), "validate", "--output", "json")
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert lines[0]["type"] == "version"
    assert {m["type"] for m in lines[1:-1]} == {"diagnostic"}
    assert lines[-1]["type"] == "validate_summary"
    assert lines[-1]["validation"]["valid"] is False
    assert lines[-1]["validation"]["problems"] == len(lines) - 2
    located = [m["diagnostic"] for m in lines[1:-1]]
    assert all(d["file"] == "environments/broken.yaml" for d in located)
    assert {d["line"] for d in located} == {2, 5}
    assert all(isinstance(d["column"], int) and d["column"] >= 1 for d in located)
    for found in located:  # the fields say what the summary says for people
        assert found["summary"].startswith(f"{found['file']}:{found['line']}:{found['column']}: ")


def test_annotations_for_each_ci_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = scaffolded(tmp_path / "cfg")
    (directory / "secrets/contoso.yaml").write_text(BAD_MANIFEST)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("BUILD_SOURCESDIRECTORY", str(tmp_path))
    github = kvp("--chdir", str(directory), "validate", "--format", "github")
    assert github.code == 1
    errors = [line for line in github.stdout.splitlines() if line.startswith("::error ")]
    assert errors and all(
        line.startswith("::error file=cfg/secrets/contoso.yaml,line=") for line in errors
    )
    assert "::error file=cfg/secrets/contoso.yaml,line=3,col=" in github.stdout
    assert github.stdout.splitlines()[-1].startswith("Validation failed: ")
    assert "error: " not in github.stderr  # once, as annotations, not twice

    azure = kvp("--chdir", str(directory), "validate", "--format", "azure-devops")
    assert azure.code == 1
    issues = [line for line in azure.stdout.splitlines() if line.startswith("##vso[")]
    assert len(issues) == len(errors)
    assert all(
        line.startswith("##vso[task.logissue type=error;sourcepath=cfg/secrets/contoso.yaml;")
        for line in issues
    )
    assert "linenumber=3;columnnumber=" in azure.stdout

    valid = scaffolded(tmp_path / "valid")
    ran = kvp("--chdir", str(valid), "validate", "--format", "github")
    assert ran.code == 0 and "::error" not in ran.stdout

    both = kvp("--chdir", str(valid), "validate", "--format", "github", "--output", "json")
    assert both.code == 1 and "choose one" in both.stderr


def test_nothing_to_validate_says_so(tmp_path: Path) -> None:
    ran = kvp("--chdir", str(tmp_path), "validate")
    assert ran.code == 1
    assert "nothing to validate" in ran.stderr and "keyvault-platform init" in ran.stderr


GUARD = textwrap.dedent(
    """
    import sys

    def _no_network(event, args):
        if event in ("socket.__new__", "socket.connect", "socket.getaddrinfo"):
            raise RuntimeError(f"validate opened a socket: {event} {args!r}")

    sys.addaudithook(_no_network)
    """
)


def test_validate_opens_no_socket(tmp_path: Path) -> None:
    """Run as a pipeline would, in a process where creating any socket raises."""
    directory = scaffolded(tmp_path / "cfg")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(guard), env.get("PYTHONPATH", "")])
    for argv in (["validate"], ["validate", "--values"], ["validate", "--output", "json"]):
        ran = subprocess.run(
            [sys.executable, "-m", "keyvault_platform", "--chdir", str(directory), *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "opened a socket" not in ran.stderr
    # The guard works: the same interpreter set-up refuses a socket.
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.socket()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0 and "opened a socket" in probe.stderr


def test_files_saved_by_other_editors_read_the_same(tmp_path: Path) -> None:
    """A BOM and CRLF (Windows editors), UTF-16 with a BOM (PowerShell 5's ``>``)."""
    directory = scaffolded(tmp_path / "cfg")
    for name in ("environments/local.yaml", "secrets/GLOBAL.yaml"):
        path = directory / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace("\n", "\r\n").encode())
    org = directory / "secrets" / "contoso.yaml"
    org.write_bytes(b"\xff\xfe" + org.read_text().encode("utf-16-le"))
    ran = kvp("--chdir", str(directory), "validate")
    assert ran.code == 0, ran.describe()
    assert ran.stdout == "Valid: 2 environment files, 2 manifests (3 secrets).\n"
    org.write_bytes(b"scope: contoso\nsecrets: []\n# caf\xe9\n")  # Latin-1
    ran = kvp("--chdir", str(directory), "validate")
    assert ran.code == 1
    assert "secrets/contoso.yaml:3:1: not valid UTF-8 (byte offset 32)" in ran.stderr


def test_an_org_limited_grant_must_name_a_declared_org(tmp_path: Path) -> None:
    directory = scaffolded(tmp_path / "cfg")
    local = directory / "environments/local.yaml"
    grant = (
        "  - name: partner-reads-contoso\n"
        "    principal_id: 411502f3-ff3c-5190-bef5-c4c29a8ef7d5\n"
        "    role: Key Vault Secrets User\n"
        "    orgs: [contoso, fabrikamm]\n"
    )
    local.write_text(local.read_text().replace("access:\n", "access:\n" + grant, 1))
    ran = kvp("--chdir", str(directory), "validate")
    assert ran.code == 1, ran.describe()
    lines = local.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "fabrikamm" in text)
    assert f"environments/local.yaml:{line}:" in ran.stderr
    assert "no manifest declares the org 'fabrikamm'" in ran.stderr
    assert ran.stderr.count("error: ") == 1  # contoso is declared by the scaffold
