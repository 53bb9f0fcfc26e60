"""Offboarding an org whose manifest is gone: ``sync --offboard ORG``, on the emulator.

Deleting an org's manifest drops its scope from the synced scopes, so
``--prune`` never reaches its secrets; ``--offboard`` names the scope.
Deletions are planned first, owned secrets only, within the prune limit.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import build_parser, main, prepare
from keyvault_platform.core.errors import InputError
from keyvault_platform.core.plan import Action

from .conftest import CANARY
from .test_sync_emulator import MANIFEST, Sync, ops

LEAVING = """\
scope: fabrikam
secrets:
  - name: storage
    value: {env: DB_PASSWORD}
  - name: queue
    value: {env: DB_PASSWORD}
"""


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    return Sync(emulator, vault, tmp_path)


def _with_fabrikam_gone(sync: Sync) -> None:
    sync.write(LEAVING, "fabrikam.yaml")
    assert sync.run()[0] == 0
    sync.client.set_secret("fabrikam--hand-made", "not the sync's")
    (sync.dir / "fabrikam.yaml").unlink()


def test_a_removed_manifest_is_beyond_prune_and_offboard_plans_its_owned_secrets(
    sync: Sync,
) -> None:
    _with_fabrikam_gone(sync)
    start = time.time()

    code, plan, _ = sync.run(prune=True)  # the scope is no longer synced
    assert code == 0 and not plan.plan.has_changes

    code, plan, _ = sync.run(plan_only=True, offboard=["fabrikam"])
    assert code == 2
    assert [(c.address, c.action) for c in plan.plan.pending] == [
        ("secret.fabrikam--queue", Action.DELETE),
        ("secret.fabrikam--storage", Action.DELETE),
    ]
    assert "offboarded (--offboard)" in sync.output
    assert "  - secret.fabrikam--queue" in sync.output  # shown as deletions
    assert "1 secret(s) in this scope are not the sync's" in sync.output
    assert "SecretDelete" not in ops(sync.audit(start))  # a plan writes nothing

    code, plan, _ = sync.run(offboard=["FABRIKAM"])  # scopes ignore case, as Key Vault does
    assert code == 0
    records = sync.audit(start)
    assert ops(records).count("SecretDelete") == 2 and "SecretPurge" not in ops(records)
    names = {p.name for p in sync.client.list_properties_of_secrets()}
    assert "fabrikam--hand-made" in names  # not owned: left alone
    assert not {"fabrikam--queue", "fabrikam--storage"} & names
    assert {"acme--db-password", "acme--api-key"} <= names  # other scopes untouched
    deleted = {d.name for d in sync.client.list_deleted_secrets()}
    assert {"fabrikam--queue", "fabrikam--storage"} <= deleted  # recoverable

    code, plan, _ = sync.run(offboard=["fabrikam"])  # again: nothing owned is left
    assert code == 0 and not plan.plan.has_changes
    assert "the sync owns no secret in this scope" in sync.output


def test_offboarding_counts_against_the_prune_limit(sync: Sync) -> None:
    _with_fabrikam_gone(sync)
    sync.write(MANIFEST + "  - name: old\n    value: {env: DB_PASSWORD}\n")
    sync.run()
    sync.write(MANIFEST)
    start = time.time()

    code, plan, _ = sync.run(offboard=["fabrikam"], prune=True, prune_max=2)
    assert code == 1
    assert "refusing to prune 3 secrets: the limit is 2" in sync.output
    assert "SecretDelete" not in ops(sync.audit(start))

    code, plan, _ = sync.run(offboard=["fabrikam"], prune=True, prune_max=3)
    assert code == 0
    assert sorted(c.address for c in plan.plan.pending) == [
        "secret.acme--old",
        "secret.fabrikam--queue",
        "secret.fabrikam--storage",
    ]
    assert ops(sync.audit(start)).count("SecretDelete") == 3


def test_a_declared_or_invalid_scope_is_refused_before_any_request(sync: Sync) -> None:
    start = time.time()
    with pytest.raises(InputError) as caught:
        prepare(
            [sync.dir],
            environ=sync.environ,
            root=sync.dir,
            offboard=["acme", "GLOBAL", "bad--org"],
        )
    text = str(caught.value)
    assert "--offboard: scope 'acme' is still declared in " in text and "acme.yaml" in text
    assert "'GLOBAL'" in text and "reserved" in text
    assert "'bad--org'" in text
    assert CANARY not in text
    assert not sync.audit(start)


def test_the_command_line_offboards_through_the_same_plan(sync: Sync) -> None:
    _with_fabrikam_gone(sync)
    argv = ["--env", "local", "--manifests", str(sync.dir), "--plan", "--output", "json"]
    argv += ["--offboard", "fabrikam"]
    stdout = io.StringIO()
    code = cli.run(
        build_parser(),
        lambda args, out: main(args, out, environ=sync.environ, client_factory=lambda: sync.client),
        argv,
        stdout=stdout,
        stderr=io.StringIO(),
    )
    assert code == 2
    changes = [json.loads(line) for line in stdout.getvalue().splitlines()]
    planned = [c["change"] for c in changes if c["type"] == "planned_change"]
    assert {(c["resource"]["addr"], c["action"]) for c in planned} == {
        ("secret.fabrikam--queue", "delete"),
        ("secret.fabrikam--storage", "delete"),
    }


def test_a_saved_offboarding_plan_applies_exactly_its_deletions(sync: Sync, tmp_path: Path) -> None:
    _with_fabrikam_gone(sync)
    saved = tmp_path / "offboard.plan"

    def command(*argv: str) -> tuple[int, str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        code = cli.run(
            build_parser(),
            lambda args, out: main(
                args,
                out,
                environ=sync.environ,
                client_factory=lambda: sync.emulator.secret_client(sync.vault, "sync"),
            ),
            list(argv),
            stdout=stdout,
            stderr=stderr,
        )
        return code, stdout.getvalue() + stderr.getvalue()

    code, text = command(
        "--env", "local", "--manifests", str(sync.dir), "--offboard", "fabrikam",
        "--plan", "--out", str(saved),
    )  # fmt: skip
    assert code == 2, text
    assert "offboard" in saved.read_text(encoding="utf-8")
    start = time.time()
    code, text = command("--from-plan", str(saved), "--auto-approve")
    assert code == 0, text
    assert ops(sync.audit(start)).count("SecretDelete") == 2
    names = {p.name for p in sync.client.list_properties_of_secrets()}
    assert "fabrikam--hand-made" in names and "fabrikam--queue" not in names
