"""A prune that finds its secret already deleted has reached the desired state.

Someone (or another run) deleted it between the plan and the delete: the
sync counts the change as done, with a warning, and exits 0. Two windows:
before the apply starts, and while the delete waits for its turn (the
re-check of the secret's versions then finds none; a delete that meets a
404 after the re-check counts the same way).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import prepare, run_sync
from keyvault_platform.sync.apply import apply_sync
from keyvault_platform.sync.planner import SyncOptions, plan_sync
from keyvault_platform.sync.vault_state import read_vault_state

from .conftest import BeforeFirstWrite
from .test_sync_emulator import MANIFEST, Sync

OLD = MANIFEST + "  - name: old\n    value: {env: DB_PASSWORD}\n"


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    synced = Sync(emulator, vault, tmp_path)
    synced.write(OLD)
    code, _, _ = synced.run()
    assert code == 0
    synced.write(MANIFEST)  # acme--old is no longer declared
    return synced


def test_deleted_after_the_plan_is_done_with_a_note(sync: Sync) -> None:
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir, prune=True)
    planned = plan_sync(
        request.manifests, read_vault_state(sync.client), request.keyring, SyncOptions(prune=True)
    )
    assert [c.address for c in planned.plan.pending] == ["secret.acme--old"]
    sync.client.begin_delete_secret("acme--old").wait()  # by hand, after the plan
    start = time.time()
    result = apply_sync(planned, sync.client, request.keyring)
    assert not result.failed
    (done,) = result.succeeded
    assert done.address == "secret.acme--old" and "already deleted" in (done.note or "")
    assert "SecretDelete" not in [r.operation for r in sync.audit(start)]



@pytest.mark.parametrize("output", ["text", "json"])
def test_deleted_between_the_relisting_and_the_delete_is_done(sync: Sync, output: str) -> None:
    pacer = BeforeFirstWrite(lambda: sync.client.begin_delete_secret("acme--old").wait())
    start = time.time()
    code, plan, result = sync.run(prune=True, pacer=pacer, output=output)
    assert pacer.done.is_set()
    assert [c.address for c in plan.plan.pending] == ["secret.acme--old"]
    assert code == 0 and result is not None and not result.failed
    (done,) = result.succeeded
    assert "already deleted" in (done.note or "")
    # The re-check after the pacing wait found it gone: only the hand's delete.
    deletes = [r for r in sync.audit(start) if r.operation == "SecretDelete"]
    assert len(deletes) == 1
    if output == "text":
        assert "Apply complete! Resources: 0 added, 0 changed, 1 destroyed." in sync.output
        assert "Warning: " in sync.output and "(secret.acme--old)" in sync.output
    else:
        lines = [json.loads(line) for line in sync.output.splitlines() if line.startswith("{")]
        warnings = [
            line for line in lines if line["type"] == "diagnostic" and line["@level"] == "warning"
        ]
        assert [w["diagnostic"]["address"] for w in warnings] == ["secret.acme--old"]
        assert lines[-1]["type"] == "change_summary"
        assert lines[-1]["changes"]["remove"] == 1


def test_command_exit_code_is_0(sync: Sync) -> None:
    request = prepare([sync.dir], environ=sync.environ, root=sync.dir, prune=True)
    pacer = BeforeFirstWrite(lambda: sync.client.begin_delete_secret("acme--old").wait())
    out = cli.Output(out=io.StringIO(), err=io.StringIO())
    code, _, _ = run_sync(request, sync.client, out, plan_only=False, pacer=pacer)
    assert code == 0
