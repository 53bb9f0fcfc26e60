"""Plans: the closed action set, rendering (golden), redaction, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyvault_platform.core.messages import render_json, render_json_lines
from keyvault_platform.core.plan import (
    ABSENT,
    Action,
    Change,
    Diagnostic,
    FieldDiff,
    Plan,
    detailed_exit_code,
)
from keyvault_platform.core.views import describe, render_text, summary_line, symbol

GOLDEN = Path(__file__).parent / "golden"


def sample_plan() -> Plan:
    return Plan(
        changes=(
            Change(
                "vault.kv-demo",
                Action.UPDATE,
                (
                    FieldDiff("public_network_access", "Enabled", "Disabled"),
                    FieldDiff("tags", {"env": "dev"}, {"env": "dev", "team": "platform"}),
                ),
                reason="changed outside this tool",
                drift=True,
            ),
            Change(
                "role_assignment.app-reads-secrets",
                Action.CREATE,
                (
                    FieldDiff("principal_id", new="97885749-d675-5932-8882-432e09ee7a95"),
                    FieldDiff("role", new="Key Vault Secrets User"),
                ),
            ),
            Change(
                "secret.acme--db-password",
                Action.RECOVER,
                (FieldDiff("value", "old-secret", "new-secret", sensitive=True),),
                notes=("deleted 2026-11-01; purge scheduled 2027-01-30",),
            ),
            Change("role_assignment.stale", Action.DELETE, (FieldDiff("role", old="Reader"),)),
            Change("resource_group.rg-demo", Action.NO_OP),
        ),
        diagnostics=(
            Diagnostic(
                "warning",
                "role assignment not declared in the environment file",
                "Reader for 411502f3 at the vault scope\nremove it with --prune-assignments",
                "role_assignment.stale",
            ),
        ),
    )


@pytest.mark.parametrize("action", list(Action))
def test_every_action_has_a_symbol_and_a_description(action: Action) -> None:
    assert isinstance(symbol(action), str) and symbol(action) != "?"
    assert describe(action)


def test_symbols_are_terraforms_and_distinct() -> None:
    assert symbol(Action.CREATE) == "+"
    assert symbol(Action.UPDATE) == "~"
    assert symbol(Action.DELETE) == "-"
    visible = [symbol(a) for a in Action if a is not Action.NO_OP]
    assert len(set(visible)) == len(visible)


def test_text_rendering_matches_golden() -> None:
    assert render_text(sample_plan()) == (GOLDEN / "plan.txt").read_text()


def test_json_rendering_matches_golden() -> None:
    assert render_json(sample_plan()) == (GOLDEN / "plan.jsonl").read_text()


def test_json_lines_open_with_version_and_parse() -> None:
    lines = [json.loads(line) for line in render_json_lines(sample_plan())]
    assert lines[0]["type"] == "version" and lines[0]["ui"] == "1.1"
    types = [line["type"] for line in lines]
    assert types == ["version"] + ["planned_change"] * 4 + ["diagnostic", "change_summary"]
    addresses = [line["change"]["resource"]["addr"] for line in lines[1:5]]
    assert addresses == sorted(addresses)
    assert lines[-1]["changes"] == {
        "add": 1,
        "change": 1,
        "remove": 1,
        "recover": 1,
        "operation": "plan",
    }


def test_no_ops_are_hidden_and_changes_sorted() -> None:
    text = render_text(sample_plan())
    assert "resource_group.rg-demo" not in text
    wanted = ("role_assignment.app", "role_assignment.stale", "secret.", "vault.")
    order = [text.index(a) for a in wanted]
    assert order == sorted(order)


def test_legend_lists_only_used_symbols() -> None:
    plan = Plan((Change("vault.kv", Action.CREATE),))
    legend = render_text(plan).split("Planned changes:")[0]
    assert "+ create" in legend
    assert "update in place" not in legend and "destroy" not in legend


def test_empty_plan_says_no_changes() -> None:
    for plan in (Plan(), Plan((Change("vault.kv", Action.NO_OP),))):
        text = render_text(plan)
        assert text == "No changes. Everything matches the desired state.\n"
        lines = [json.loads(line) for line in render_json_lines(plan)]
        assert [line["type"] for line in lines] == ["version", "change_summary"]
        assert lines[-1]["@message"] == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_summary_line_is_terraforms() -> None:
    plan = Plan((Change("a.b", Action.CREATE), Change("a.c", Action.UPDATE)))
    assert summary_line(plan.summary) == "Plan: 1 to add, 1 to change, 0 to destroy."
    assert (
        summary_line(plan.summary, operation="apply")
        == "Apply complete! Resources: 1 added, 1 changed, 0 destroyed."
    )


def test_sensitive_values_never_stored_rendered_or_serialised() -> None:
    diff = FieldDiff("value", "hunter2-old", "hunter2-new", sensitive=True)
    plan = Plan((Change("secret.x", Action.UPDATE, (diff,)),))
    for shown in (repr(diff), repr(plan), render_text(plan), render_json(plan), str(vars(diff))):
        assert "hunter2" not in shown
    created = FieldDiff("value", new="hunter2", sensitive=True)
    assert created.old is ABSENT
    assert "hunter2" not in render_text(Plan((Change("secret.y", Action.CREATE, (created,)),)))


def test_errors_replace_the_summary_and_win_the_exit_code() -> None:
    plan = Plan(
        (Change("vault.kv", Action.UPDATE, (FieldDiff("purge_protection", True, False),)),),
        (Diagnostic("error", "purge protection cannot be turned off", None, "vault.kv"),),
    )
    text = render_text(plan)
    assert "Error: purge protection cannot be turned off (vault.kv)" in text
    assert text.rstrip().endswith("Planning failed: 1 error; nothing will be applied.")
    assert "Plan:" not in text
    types = [json.loads(line)["type"] for line in render_json_lines(plan)]
    assert "change_summary" not in types and "diagnostic" in types
    assert detailed_exit_code(plan, applied=False) == 1
    assert detailed_exit_code(plan, applied=True) == 1


def test_detailed_exit_codes() -> None:
    pending = Plan((Change("vault.kv", Action.CREATE),))
    nothing = Plan((Change("vault.kv", Action.NO_OP),))
    assert detailed_exit_code(nothing, applied=False) == 0
    assert detailed_exit_code(pending, applied=False) == 2
    assert detailed_exit_code(pending, applied=True) == 0
    assert detailed_exit_code(pending, applied=True, failed=True) == 1
    assert detailed_exit_code(None, applied=False) == 1


def test_plan_objects_are_frozen_and_addresses_unique() -> None:
    change = Change("vault.kv", Action.CREATE)
    with pytest.raises(AttributeError):
        change.action = Action.DELETE  # type: ignore[misc]
    with pytest.raises(ValueError):
        Plan((change, Change("vault.kv", Action.UPDATE)))
    with pytest.raises(ValueError):
        Change("no-type", Action.CREATE)


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_text(sample_plan())
    assert "\x1b[32m+\x1b[0m" in render_text(sample_plan(), color=True)
