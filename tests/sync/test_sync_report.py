"""What an apply reports: the summary line only on success, the failures otherwise.

"Apply complete! Resources: ..." is API (pipelines and scripts/demo.py grep
it), so it must never follow a failed apply, in text or in JSON.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import report_apply
from keyvault_platform.core.executor import ApplyResult, Status, TaskResult
from keyvault_platform.core.plan import Action, Change, Plan
from keyvault_platform.sync.planner import Operation, Step, SyncPlan

from .test_sync_emulator import Sync


def _plan() -> SyncPlan:
    changes = (
        Change("secret.acme--a", Action.CREATE),
        Change("secret.acme--b", Action.UPDATE),
        Change("secret.acme--c", Action.DELETE),
    )
    steps = {
        "secret.acme--a": Step("secret.acme--a", "acme--a", (Operation.SET,)),
        "secret.acme--b": Step("secret.acme--b", "acme--b", (Operation.SET,)),
        "secret.acme--c": Step("secret.acme--c", "acme--c", (Operation.DELETE,)),
    }
    return SyncPlan(Plan(changes), steps)


def _result(*failed: str) -> ApplyResult:
    results = tuple(
        TaskResult(
            c.address,
            c.action,
            Status.FAILED if c.address in failed else Status.SUCCEEDED,
            2 if c.address in failed else 1,
            error="HTTP 500 InternalServerError: boom" if c.address in failed else None,
        )
        for c in _plan().plan.changes
    )
    return ApplyResult(results, elapsed_s=1.0)


def _report(result: ApplyResult, output: str = "text") -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    report_apply(cli.Output(out=stdout, err=stderr, format=output), _plan(), result)
    return stdout.getvalue()


def test_a_partial_failure_names_the_failures_and_the_counts_without_the_summary() -> None:
    assert _report(_result("secret.acme--b")) == (
        "\n"
        "Applied:\n"
        "  + secret.acme--a\n"
        "  - secret.acme--c\n"
        "\n"
        "Failed changes:\n"
        "  secret.acme--b: update failed: HTTP 500 InternalServerError: boom\n"
        "\n"
        "Apply failed: 1 error; 2 of 3 changes applied.\n"
    )


def test_when_nothing_was_applied_it_does_not_say_the_others_were() -> None:
    text = _report(_result("secret.acme--a", "secret.acme--b", "secret.acme--c"))
    assert text.endswith("Apply failed: 3 errors; 0 of 3 changes applied.\n")
    assert "others were applied" not in text and "Apply complete" not in text


def test_success_prints_the_summary_line() -> None:
    assert _report(_result()) == (
        "\n"
        "Applied:\n"
        "  + secret.acme--a\n"
        "  ~ secret.acme--b\n"
        "  - secret.acme--c\n"
        "\n"
        "Apply complete! Resources: 1 added, 1 changed, 1 destroyed.\n"
    )


def test_json_has_no_apply_summary_after_a_failure() -> None:
    lines = [json.loads(line) for line in _report(_result("secret.acme--b"), "json").splitlines()]
    types = [line["type"] for line in lines]
    assert types == ["version", "apply_complete", "apply_complete", "diagnostic"]
    assert {
        line["hook"]["resource"]["addr"] for line in lines if line["type"] == "apply_complete"
    } == {
        "secret.acme--a",
        "secret.acme--c",
    }
    assert lines[-1]["@level"] == "error" and lines[-1]["diagnostic"]["address"] == "secret.acme--b"
    assert not any("Apply complete" in line["@message"] for line in lines)


def test_json_summary_after_success() -> None:
    lines = [json.loads(line) for line in _report(_result(), "json").splitlines()]
    assert lines[-1]["type"] == "change_summary"
    assert lines[-1]["@message"] == "Apply complete! Resources: 1 added, 1 changed, 1 destroyed."


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_sync_whose_every_write_fails_reports_failure_on_the_emulator(
    emulator, vault, tmp_path: Path, output: str
) -> None:
    emulator.set_throttling(vault.name, enabled=False)
    sync = Sync(emulator, vault, tmp_path)
    fragile = emulator.secret_client(vault, "sync", retry_total=0)
    emulator.set_faults(
        vault.name, error_rate=1.0, statuses=(500,), seed=1, operations={"SecretSet"}
    )
    try:
        code, _, result = sync.run(client=fragile, max_attempts=1, output=output)
    finally:
        emulator.clear_faults(vault.name)
    assert code == 1 and result is not None and len(result.failed) == 4
    assert "Apply complete" not in sync.output
    assert "others were applied" not in sync.output
    if output == "text":
        assert "Apply failed: 4 errors; 0 of 4 changes applied." in sync.output
    else:
        types = [json.loads(line)["type"] for line in sync.output.splitlines()]
        assert "change_summary" not in types[types.index("diagnostic") :]
        assert "apply_complete" not in types


def test_each_failure_is_printed_once_with_logging_as_the_command_sets_it(
    emulator, vault, tmp_path: Path
) -> None:
    """Before, a failure was logged as a warning and listed again in the report."""
    import argparse

    emulator.set_throttling(vault.name, enabled=False)
    sync = Sync(emulator, vault, tmp_path)
    fragile = emulator.secret_client(vault, "sync", retry_total=0)
    emulator.set_faults(
        vault.name, error_rate=1.0, statuses=(500,), seed=1, operations={"SecretSet"}
    )
    logged = io.StringIO()
    try:
        with cli.configured_logging(argparse.Namespace(quiet=False, verbose=0), stream=logged):
            code, _, result = sync.run(client=fragile, max_attempts=1)
    finally:
        emulator.clear_faults(vault.name)
    assert code == 1 and result is not None and len(result.failed) == 4
    after_the_plan = sync.output.split("Applying ...")[1] + logged.getvalue()
    for failure in result.failed:
        assert after_the_plan.count(failure.address) == 1
        assert f"  {failure.address}: create failed: HTTP 500" in after_the_plan
