"""A vault soft-deleted in the middle of a sync: one clear error, no retry storm.

Through the real SecretClient and KeyVaultManagementClient on the emulator,
whose deleted vaults drop every connection (as a deleted vault's host stops
resolving). Counted in attempts, never timed.
"""

from __future__ import annotations

import io
import textwrap
import threading
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import prepare, run_sync
from keyvault_platform.sync.apply import VaultGone
from keyvault_platform.sync.pacing import Budget, VaultPacer

KEY = "test-fingerprint-key-0123456789abcdefghijklmnop"
SECRETS = 20


class DeleteTheVaultFirst(VaultPacer):
    """The real pacer; the vault is deleted (through ARM) just before the first write."""

    def __init__(self, emulator, vault) -> None:
        limits = VaultPacer.azure_limits(writes_per_window=10**6, others_per_window=10**6)
        super().__init__(limits.writes, limits.others)
        self.emulator, self.vault = emulator, vault
        self.done = threading.Event()
        self._lock = threading.Lock()

    def acquire(self, budget: Budget) -> None:
        with self._lock:
            if budget is Budget.WRITE and not self.done.is_set():
                self.emulator.keyvault_mgmt_client().vaults.delete("rg-local", self.vault.name)
                self.done.set()
        super().acquire(budget)


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_vault_deleted_mid_sync_stops_it_with_one_error(
    emulator, vault, tmp_path: Path, output: str
) -> None:
    emulator.set_throttling(vault.name, enabled=False)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    entries = "".join(
        f"  - name: s{i:02}\n    sensitive: false\n    value: {{literal: value-{i}}}\n"
        for i in range(SECRETS)
    )
    (manifests / "acme.yaml").write_text(
        textwrap.dedent("scope: acme\nsecrets:\n") + entries, encoding="utf-8"
    )
    request = prepare([manifests], environ={"SYNC_FINGERPRINT_KEY": KEY}, root=manifests)
    # Few SDK retries, short back-off: the test stays quick however it goes.
    client = emulator.secret_client(vault, "sync", retry_total=1, retry_backoff_factor=0.01)
    pacer = DeleteTheVaultFirst(emulator, vault)
    out = cli.Output(out=io.StringIO(), err=io.StringIO(), format=output)
    planned = out.out
    with pytest.raises(VaultGone) as raised:
        run_sync(request, client, out, plan_only=False, pacer=pacer, retry_base_s=0.01)
    assert "failed" not in planned.getvalue()  # nothing per change was printed
    assert pacer.done.is_set()
    error = raised.value
    assert vault.uri.rstrip("/") in error.message and "stopped answering" in error.message
    assert "0 of 20 changes applied" in error.message
    assert error.hint is not None and "recover it with provisioning" in error.hint
    result = error.result
    assert not result.succeeded and len(result.failed) == SECRETS
    not_sent = [r for r in result.failed if r.error and r.error.startswith("not sent")]
    # Without the stop, every change is tried 4 times; with it, most are never sent.
    assert len(not_sent) >= SECRETS - 8 - 2
    assert all(r.attempts <= 2 for r in result.failed)
    # The command prints one error, with its hint (cli.run's rendering).
    (report,) = error.reports()
    stream = io.StringIO()
    cli.report_error(cli.Output(out=stream, err=stream), report.summary, detail=report.detail)
    text = stream.getvalue()
    assert text.count("error: ") == 1 and "create failed" not in text
    assert "recover it with provisioning" in text
    client.close()
