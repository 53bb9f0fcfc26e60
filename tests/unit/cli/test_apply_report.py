"""The one apply report, for both commands (pure: a result in, text or JSON lines out)."""

from __future__ import annotations

import io
import json

from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.apply_report import report_apply
from keyvault_platform.core.executor import ApplyResult, Status, TaskResult
from keyvault_platform.core.plan import Action, Change, Plan

PLAN = Plan(
    (
        Change("resource_group.rg", Action.CREATE),
        Change("vault.kv", Action.RECOVER),
        Change("vault_settings.kv", Action.UPDATE),
        Change("role_assignment.app", Action.CREATE),
        Change("role_assignment.sync", Action.CREATE),
        Change("role_assignment.old", Action.NO_OP),
    )
)


def result(*entries: TaskResult, interrupted: bool = False) -> ApplyResult:
    return ApplyResult(tuple(sorted(entries, key=lambda r: r.address)), 0.5, interrupted)


def report(applied: ApplyResult, output: str = "text") -> tuple[bool, str]:
    stdout = io.StringIO()
    undone = report_apply(
        cli.Output(out=stdout, err=io.StringIO(), format=output),
        PLAN,
        applied,
        rerun="run it again to converge",
    )
    return undone, stdout.getvalue()


FAILED_SETTINGS = TaskResult(
    "vault_settings.kv",
    Action.UPDATE,
    Status.FAILED,
    1,
    error="not updated: the recovered vault's sku also differs",
    hint="run the command again",
)


def test_a_failure_is_listed_once_with_its_hint_and_its_dependents_as_skipped() -> None:
    failed_vault = TaskResult(
        "vault.kv", Action.RECOVER, Status.FAILED, 1, error="could not recover", hint="ask"
    )
    undone, text = report(
        result(
            TaskResult("resource_group.rg", Action.CREATE, Status.SUCCEEDED, 1),
            failed_vault,
            TaskResult("vault_settings.kv", Action.UPDATE, Status.SKIPPED, blocked_by="vault.kv"),
            TaskResult("role_assignment.app", Action.CREATE, Status.SKIPPED, blocked_by="vault.kv"),
            TaskResult(
                "role_assignment.sync", Action.CREATE, Status.SKIPPED, blocked_by="vault.kv"
            ),
        )
    )
    assert undone
    assert text == (
        "\n"
        "Applied:\n"
        "  + resource_group.rg\n"
        "\n"
        "Failed changes:\n"
        "  vault.kv: recover failed: could not recover\n"
        "    hint: ask\n"
        "\n"
        "Skipped (a change they depend on failed):\n"
        "  + role_assignment.app (needs vault.kv)\n"
        "  + role_assignment.sync (needs vault.kv)\n"
        "  ~ vault_settings.kv (needs vault.kv)\n"
        "\n"
        "Apply failed: 1 error; 1 of 5 changes applied.\n"
    )


def test_success_lists_each_change_with_its_outcome_then_the_summary() -> None:
    undone, text = report(
        result(
            TaskResult("resource_group.rg", Action.CREATE, Status.SUCCEEDED, 1),
            TaskResult("vault.kv", Action.RECOVER, Status.SUCCEEDED, 1),
            TaskResult("vault_settings.kv", Action.UPDATE, Status.SUCCEEDED, 1),
            TaskResult(
                "role_assignment.app",
                Action.CREATE,
                Status.SUCCEEDED,
                1,
                outcome="already existed under another name",
            ),
            TaskResult("role_assignment.sync", Action.CREATE, Status.SUCCEEDED, 1),
        )
    )
    assert not undone
    assert "  + role_assignment.app (already existed under another name)\n" in text
    assert text.endswith(
        "Apply complete! Resources: 1 recovered, 3 added, 1 changed, 0 destroyed.\n"
    )


def test_json_has_a_diagnostic_per_failure_and_per_skipped_change_and_no_summary() -> None:
    undone, text = report(
        result(
            TaskResult("resource_group.rg", Action.CREATE, Status.SUCCEEDED, 1),
            TaskResult("vault.kv", Action.RECOVER, Status.SUCCEEDED, 1),
            FAILED_SETTINGS,
            TaskResult("role_assignment.app", Action.CREATE, Status.SUCCEEDED, 1),
            TaskResult("role_assignment.sync", Action.CREATE, Status.SUCCEEDED, 1),
        ),
        "json",
    )
    lines = [json.loads(line) for line in text.splitlines()]
    assert undone
    assert [line["type"] for line in lines] == ["version"] + ["apply_complete"] * 4 + ["diagnostic"]
    error = lines[-1]["diagnostic"]
    assert error["severity"] == "error" and error["address"] == "vault_settings.kv"
    assert error["summary"] == "update failed: not updated: the recovered vault's sku also differs"
    assert (
        error["detail"]
        == "hint: run the command again\nafter 1 attempt(s); run it again to converge"
    )


def test_an_interrupted_apply_says_what_was_and_was_not_applied() -> None:
    undone, text = report(
        result(
            TaskResult("resource_group.rg", Action.CREATE, Status.SUCCEEDED, 1),
            TaskResult("vault.kv", Action.RECOVER, Status.NOT_RUN),
            TaskResult("vault_settings.kv", Action.UPDATE, Status.NOT_RUN),
            TaskResult("role_assignment.app", Action.CREATE, Status.NOT_RUN),
            TaskResult("role_assignment.sync", Action.CREATE, Status.NOT_RUN),
            interrupted=True,
        )
    )
    assert undone
    assert text.startswith("\nApplied before the interrupt:\n  + resource_group.rg\n\n")
    assert "Not applied (interrupted):\n  + role_assignment.app\n" in text
    assert text.endswith("Apply interrupted: 1 of 5 changes applied; run it again to converge.\n")


def test_a_halted_apply_says_its_failure_once_and_counts_what_was_not_sent() -> None:
    denial = "HTTP 403 Forbidden/ForbiddenByRbac: Caller is not authorized"
    entries = [
        TaskResult(
            "role_assignment.app", Action.CREATE, Status.FAILED, 1, error=denial, hint="grant it"
        ),
        TaskResult(
            "role_assignment.sync", Action.CREATE, Status.FAILED, 1, error=denial, hint="grant it"
        ),
        TaskResult("resource_group.rg", Action.CREATE, Status.NOT_RUN, error="not sent"),
        TaskResult("vault.kv", Action.RECOVER, Status.NOT_RUN, error="not sent"),
        TaskResult("vault_settings.kv", Action.UPDATE, Status.NOT_RUN, error="not sent"),
    ]
    halted = ApplyResult(tuple(sorted(entries, key=lambda r: r.address)), 0.1,
                         halted_by="role_assignment.app")  # fmt: skip
    undone, text = report(halted)
    assert undone
    assert text.count("ForbiddenByRbac") == 1 and text.count("hint: grant it") == 1
    assert (
        "Stopped at the first failure that every change would meet: 3 changes not sent; "
        "1 change already in flight failed too."
    ) in text
    assert "vault.kv" not in text  # counted, not listed
    assert "Apply failed: 2 errors; 0 of 5 changes applied." in text
    _, lines = report(halted, "json")
    diagnostics = [json.loads(line) for line in lines.splitlines()][1:]
    assert sum("ForbiddenByRbac" in json.dumps(d) for d in diagnostics) == 1
    assert any("3 changes not sent" in json.dumps(d) for d in diagnostics)
