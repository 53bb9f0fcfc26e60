"""The sync on the emulator, through the real SecretClient over HTTPS.

Every claim is counted in the emulator's audit log (Azure AuditEvent
operation names), never timed.
"""

from __future__ import annotations

import io
import logging
import textwrap
import time
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import build_parser, main, prepare, run_sync
from keyvault_platform.core.plan import Action
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG, OWNER_VALUE
from keyvault_platform.sync.pacing import VaultPacer

from .conftest import CANARY, TEST_KEY
from .test_sync_bad_manifests import ENVIRONMENT as BAD_ENV
from .test_sync_bad_manifests import cases as bad_cases

WRITES = {
    "SecretSet",
    "SecretUpdate",
    "SecretDelete",
    "SecretRecover",
    "SecretPurge",
    "SecretRestore",
}
LISTS = {"SecretList", "SecretListDeleted", "SecretListVersions"}

MANIFEST = """\
scope: acme
secrets:
  - name: db-password
    description: main database
    value: {env: DB_PASSWORD}
    content_type: text/plain
    tags: {team: core}
  - name: tls-key
    value: {file: tls.key}
    expires: 90d
  - name: api-key
    value:
      generate: {length: 40, alphabet: base64url}
  - name: public-url
    sensitive: false
    value: {literal: "https://acme.example"}
"""


class Sync:
    """Runs the sync the way the command does, on one emulator vault."""

    def __init__(self, emulator, vault, tmp_path: Path) -> None:
        self.emulator = emulator
        self.vault = vault
        self.dir = tmp_path / "manifests"
        self.dir.mkdir()
        (self.dir / "tls.key").write_text("tls-" + CANARY, encoding="utf-8")
        self.environ = {"DB_PASSWORD": CANARY, "SYNC_FINGERPRINT_KEY": TEST_KEY}
        self.client = emulator.secret_client(vault, "sync")
        self.write(MANIFEST)
        self.output = ""

    def write(self, text: str, name: str = "acme.yaml") -> None:
        (self.dir / name).write_text(textwrap.dedent(text), encoding="utf-8")

    def run(self, *, plan_only: bool = False, client=None, output: str = "text", **options):
        prepare_options = {
            k: options.pop(k)
            for k in ("rotate", "offboard", "prune", "prune_max", "adopt")
            if k in options
        }
        request = prepare([self.dir], environ=self.environ, root=self.dir, **prepare_options)
        out_stream, err_stream = io.StringIO(), io.StringIO()
        out = cli.Output(out=out_stream, err=err_stream, format=output)
        options.setdefault("retry_base_s", 0.05)
        code, plan, result = run_sync(
            request, client or self.client, out, plan_only=plan_only, **options
        )
        self.output = out_stream.getvalue() + err_stream.getvalue()
        assert CANARY not in self.output
        return code, plan, result

    def audit(self, since: float):
        return self.emulator.audit(vault=self.vault.name, since=since)

    def value(self, name: str) -> str:
        return self.client.get_secret(name).value

    def versions(self, name: str) -> int:
        return len(list(self.client.list_properties_of_secret_versions(name)))


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    return Sync(emulator, vault, tmp_path)


def ops(records) -> list[str]:
    return [r.operation for r in records]


def test_create_then_noop(sync: Sync) -> None:
    start = time.time()
    code, plan, result = sync.run()
    assert code == 0
    assert [c.action for c in plan.plan.pending] == [Action.CREATE] * 4
    assert result is not None and not result.failed
    records = sync.audit(start)
    assert ops(records).count("SecretSet") == 4
    assert "SecretGet" not in ops(records)
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in sync.output

    properties = {p.name: p for p in sync.client.list_properties_of_secrets()}
    db = properties["acme--db-password"]
    assert db.tags[OWNER_TAG] == OWNER_VALUE
    assert db.tags[FINGERPRINT_TAG].startswith("v1:")
    assert db.tags["team"] == "core" and db.tags["description"] == "main database"
    assert db.content_type == "text/plain"
    assert properties["acme--tls-key"].expires_on is not None
    assert sync.value("acme--db-password") == CANARY
    assert sync.value("acme--tls-key") == "tls-" + CANARY
    assert len(sync.value("acme--api-key")) == 40

    again = time.time()
    code, plan, result = sync.run()
    assert code == 0 and not plan.plan.has_changes and result is None
    records = sync.audit(again)
    assert not [r for r in records if r.operation in WRITES]
    assert "SecretGet" not in ops(records)
    assert "No changes." in sync.output


def test_plan_only_exits_2_and_writes_nothing(sync: Sync) -> None:
    start = time.time()
    code, plan, _ = sync.run(plan_only=True, output="json")
    assert code == 2 and plan.plan.has_changes
    assert not [r for r in sync.audit(start) if r.operation in WRITES]
    first = sync.output.splitlines()[0]
    assert '"type": "version"' in first


def test_value_change_sets_a_new_version(sync: Sync) -> None:
    sync.run()
    sync.environ["DB_PASSWORD"] = CANARY + "-v2"
    start = time.time()
    code, plan, _ = sync.run()
    assert code == 0
    (change,) = plan.plan.pending
    assert change.address == "secret.acme--db-password" and change.action is Action.UPDATE
    assert ops(sync.audit(start)).count("SecretSet") == 1
    assert sync.versions("acme--db-password") == 2
    assert sync.value("acme--db-password") == CANARY + "-v2"


def test_metadata_only_change_makes_no_new_version(sync: Sync) -> None:
    sync.run()
    sync.write(
        MANIFEST.replace("tags: {team: core}", "tags: {team: platform}").replace(
            "content_type: text/plain", "content_type: application/x-password"
        )
    )
    start = time.time()
    code, plan, _ = sync.run()
    assert code == 0
    (change,) = plan.plan.pending
    assert {f.name for f in change.fields} == {"content_type", "tags"}
    assert ops(sync.audit(start)).count("SecretUpdate") == 1
    assert "SecretSet" not in ops(sync.audit(start))
    assert sync.versions("acme--db-password") == 1
    props = next(
        p for p in sync.client.list_properties_of_secrets() if p.name == "acme--db-password"
    )
    assert props.tags["team"] == "platform" and props.content_type == "application/x-password"
    assert props.tags[OWNER_TAG] == OWNER_VALUE
    code, plan, _ = sync.run()
    assert not plan.plan.has_changes


def test_value_set_by_hand_is_drift_planned_back(sync: Sync) -> None:
    sync.run()
    sync.client.set_secret("acme--db-password", "changed-by-hand")
    code, plan, _ = sync.run(plan_only=True)
    assert code == 2
    (change,) = plan.plan.pending
    assert change.drift and change.address == "secret.acme--db-password"
    assert "(drift: changed outside this tool)" in sync.output
    assert "changed-by-hand" not in sync.output
    code, _, _ = sync.run()
    assert code == 0 and sync.value("acme--db-password") == CANARY


def test_generated_secrets_are_not_regenerated_unless_rotated(sync: Sync) -> None:
    sync.run()
    first = sync.value("acme--api-key")
    sync.run()
    assert sync.value("acme--api-key") == first
    assert sync.versions("acme--api-key") == 1
    code, plan, _ = sync.run(rotate=["acme--api-key"])
    assert code == 0
    (change,) = plan.plan.pending
    assert "rotation" in (change.reason or "")
    assert sync.value("acme--api-key") != first
    assert sync.versions("acme--api-key") == 2


def test_owned_soft_deleted_secret_is_recovered_with_its_value(sync: Sync) -> None:
    sync.run()
    generated = sync.value("acme--api-key")
    sync.client.begin_delete_secret("acme--api-key").wait()
    start = time.time()
    code, plan, _ = sync.run()
    assert code == 0
    (change,) = plan.plan.pending
    assert change.action is Action.RECOVER
    records = sync.audit(start)
    assert ops(records).count("SecretRecover") == 1
    assert "SecretSet" not in ops(records)  # the generated value came back as it was
    assert "SecretGet" not in ops(records)
    assert sync.value("acme--api-key") == generated
    assert not sync.run()[1].plan.has_changes


def test_recovered_secret_is_then_set_when_its_value_changed(sync: Sync) -> None:
    sync.run()
    sync.client.begin_delete_secret("acme--db-password").wait()
    sync.environ["DB_PASSWORD"] = CANARY + "-new"
    code, plan, _ = sync.run()
    assert code == 0
    (change,) = plan.plan.pending
    assert change.action is Action.RECOVER
    assert sync.value("acme--db-password") == CANARY + "-new"


def test_foreign_soft_deleted_name_is_refused(sync: Sync) -> None:
    sync.client.set_secret("acme--api-key", "someone else's")
    sync.client.begin_delete_secret("acme--api-key").wait()
    start = time.time()
    code, plan, result = sync.run()
    assert code == 1 and result is None
    (error,) = plan.plan.errors
    assert "does not own" in error.summary
    assert "Planning failed: 1 error; nothing will be applied." in sync.output
    assert not [r for r in sync.audit(start) if r.operation in WRITES]


def test_prune_with_and_without_flag_and_beyond_the_limit(sync: Sync) -> None:
    sync.write(
        MANIFEST
        + "  - name: old-1\n    value: {env: DB_PASSWORD}\n"
        + "  - name: old-2\n    value: {env: DB_PASSWORD}\n"
    )
    sync.run()
    sync.client.set_secret("acme--not-ours", "hand-made")
    sync.write(MANIFEST)

    start = time.time()
    code, plan, _ = sync.run()
    assert code == 0 and not plan.plan.has_changes
    assert "2 secret(s) managed by the sync are no longer declared" in sync.output
    assert "SecretDelete" not in ops(sync.audit(start))

    code, plan, _ = sync.run(prune=True, prune_max=1)
    assert code == 1
    assert "refusing to prune 2 secrets: the limit is 1" in sync.output
    assert "SecretDelete" not in ops(sync.audit(start))

    code, plan, _ = sync.run(prune=True, prune_max=2)
    assert code == 0
    assert sorted(c.address for c in plan.plan.pending) == [
        "secret.acme--old-1",
        "secret.acme--old-2",
    ]
    records = sync.audit(start)
    assert ops(records).count("SecretDelete") == 2
    assert "SecretPurge" not in ops(records)
    names = {p.name for p in sync.client.list_properties_of_secrets()}
    assert "acme--not-ours" in names and "acme--old-1" not in names
    deleted = {d.name for d in sync.client.list_deleted_secrets()}
    assert {"acme--old-1", "acme--old-2"} <= deleted  # soft-deleted, recoverable


def test_partial_failure_under_faults_then_convergence(emulator, vault, sync: Sync) -> None:
    many = "scope: acme\nsecrets:\n" + "".join(
        f"  - name: s{i:02d}\n    value: {{env: DB_PASSWORD}}\n" for i in range(40)
    )
    sync.write(many)
    fragile = emulator.secret_client(vault, "sync", retry_total=0)
    emulator.set_faults(
        vault.name,
        error_rate=0.6,
        statuses=(500, 503),
        retry_after_s=0,
        seed=11,
        operations={"SecretSet"},
    )
    try:
        code, plan, result = sync.run(client=fragile, max_attempts=2)
    finally:
        emulator.clear_faults(vault.name)
    assert code == 1
    assert result is not None and result.failed and result.succeeded
    failed = len(result.failed)
    assert (
        f"Apply failed: {failed} error{'s' if failed != 1 else ''}; "
        f"{40 - failed} of 40 changes applied." in sync.output
    )
    assert "Apply complete!" not in sync.output
    for failure in result.failed:
        assert f"  {failure.address}: create failed: HTTP 5" in sync.output

    code, plan, result = sync.run()
    assert code == 0
    assert {c.address for c in plan.plan.pending} == {r.address for r in result.results}
    assert len(plan.plan.pending) == len(plan.plan.pending) and not result.failed
    assert not sync.run()[1].plan.has_changes


def test_transient_429s_hold_the_pacer_and_all_secrets_land(emulator, vault, sync) -> None:
    many = "scope: acme\nsecrets:\n" + "".join(
        f"  - name: t{i:02d}\n    value: {{env: DB_PASSWORD}}\n" for i in range(12)
    )
    sync.write(many)
    emulator.set_throttling(vault.name, enabled=True, writes_per_10s=5, window_s=1.0)
    try:
        # A pacer that believes in far higher limits meets 429s and must survive them.
        code, _, result = sync.run(pacer=VaultPacer.azure_limits(), concurrency=4)
    finally:
        emulator.set_throttling(vault.name, enabled=False)
    assert code == 0 and result is not None and not result.failed
    assert result.throttled > 0


def test_noop_sync_of_1000_secrets_reads_no_value_and_lists_at_most_45_times(
    sync: Sync,
) -> None:
    many = "scope: bulk\nsecrets:\n" + "".join(
        f"  - name: s{i:04d}\n    value: {{env: DB_PASSWORD}}\n" for i in range(1000)
    )
    sync.write(many, "bulk.yaml")
    # Throttling is off on this vault, so the pacer may go as fast as it likes.
    unlimited = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
    code, plan, result = sync.run(concurrency=16, pacer=unlimited)
    assert code == 0 and result is not None and not result.failed
    assert len(plan.plan.pending) == 1004

    start = time.time()
    code, plan, result = sync.run()
    assert code == 0 and not plan.plan.has_changes and result is None
    records = sync.audit(start)
    assert [r for r in records if r.operation == "SecretGet"] == []
    assert [r for r in records if r.operation in WRITES] == []
    lists = [r for r in records if r.operation in LISTS]
    assert len(lists) <= 45, len(lists)
    assert len(records) == len(lists)


def test_values_never_reach_logs(sync: Sync, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sync.run()
    sync.client.set_secret("acme--db-password", "hand")
    sync.run()
    assert CANARY not in caplog.text


def test_bad_manifests_write_nothing_and_never_reach_the_vault(emulator, vault) -> None:
    """The whole corpus through the command: errors first, no client, no request."""
    created: list[object] = []

    def factory():
        created.append(emulator.secret_client(vault, "sync"))
        return created[-1]

    start = time.time()
    for case in bad_cases():
        args = build_parser().parse_args(["--env", "local", "--manifests", str(case), "--plan"])
        stdout, stderr = io.StringIO(), io.StringIO()
        out = cli.Output(out=stdout, err=stderr)
        with pytest.raises(Exception) as caught:
            main(args, out, environ={**BAD_ENV}, client_factory=factory)
        summaries = [s for s, _, _ in cli.describe_exception(caught.value)]
        assert summaries and all(":" in s for s in summaries), case
    assert created == []
    assert emulator.audit(vault=vault.name, since=start) == []


def test_command_exit_codes_through_cli_run(emulator, vault, tmp_path: Path, monkeypatch) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "acme.yaml").write_text(
        "scope: acme\nsecrets:\n  - name: k\n    value: {generate: {length: 16}}\n"
    )
    import keyvault_platform.cli.sync as command

    def patched(args, out):
        return main(
            args, out, environ={}, client_factory=lambda: emulator.secret_client(vault, "sync")
        )

    monkeypatch.setattr(command, "main", patched)
    stdout = io.StringIO()
    argv = ["--env", "local", "--manifests", str(directory), "--auto-approve"]
    argv += ["--plan", "--output", "json"]
    assert cli.run(build_parser(), command.main, argv, stdout=stdout, stderr=io.StringIO()) == 2
    assert stdout.getvalue().splitlines()[0].startswith('{"@level": "info"')
    assert (
        cli.run(build_parser(), command.main, argv[:-3], stdout=io.StringIO(), stderr=io.StringIO())
        == 0
    )
    assert (
        cli.run(build_parser(), command.main, argv, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    )


def test_apply_rechecks_a_prune_that_raced_with_a_hand_edit(sync: Sync) -> None:
    from keyvault_platform.sync.apply import apply_sync
    from keyvault_platform.sync.planner import SyncOptions, plan_sync
    from keyvault_platform.sync.vault_state import read_vault_state

    sync.write(MANIFEST + "  - name: old\n    value: {env: DB_PASSWORD}\n")
    sync.run()
    sync.write(MANIFEST)
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir, prune=True)
    planned = plan_sync(
        request.manifests,
        read_vault_state(sync.client),
        request.keyring,
        SyncOptions(prune=True),
    )
    assert [c.address for c in planned.plan.pending] == ["secret.acme--old"]
    sync.client.set_secret("acme--old", "taken over by hand")  # after the plan
    start = time.time()
    result = apply_sync(planned, sync.client, request.keyring)
    assert not result.failed  # left alone, with a warning: not pruned
    (kept,) = result.succeeded
    assert kept.outcome == "not deleted" and "no longer the sync's" in (kept.note or "")
    assert "SecretDelete" not in ops(sync.audit(start))
    assert sync.value("acme--old") == "taken over by hand"


def test_create_that_meets_a_name_deleted_since_the_plan_fails_clearly(sync: Sync) -> None:
    from keyvault_platform.sync.apply import apply_sync
    from keyvault_platform.sync.planner import plan_sync
    from keyvault_platform.sync.vault_state import read_vault_state

    request = prepare([sync.dir], environ=sync.environ, root=sync.dir)
    planned = plan_sync(request.manifests, read_vault_state(sync.client), request.keyring)
    sync.client.set_secret("acme--public-url", "someone")
    sync.client.begin_delete_secret("acme--public-url").wait()
    result = apply_sync(planned, sync.client, request.keyring, retry_base_s=0.01)
    (failure,) = result.failed
    assert failure.address == "secret.acme--public-url"
    assert "re-run to plan a recover" in (failure.error or "")
    assert len(result.succeeded) == 3
