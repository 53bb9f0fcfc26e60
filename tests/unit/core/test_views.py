"""The human view of a plan: values, summary sentences, colours, diagnostic order."""

from __future__ import annotations

import enum
import re

import pytest
from keyvault_platform.core import views
from keyvault_platform.core.plan import (
    ABSENT,
    REDACTED,
    Action,
    Change,
    Diagnostic,
    Plan,
    Summary,
)


class Tier(enum.Enum):
    STANDARD = "standard"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Disabled", '"Disabled"'),
        ("café", '"café"'),
        (True, "true"),
        (None, "null"),
        (90, "90"),
        (1.5, "1.5"),
        ({"team": "core", "env": "dev"}, '{"env": "dev", "team": "core"}'),
        (frozenset({"b", "a"}), '["a", "b"]'),
        (["b", "a"], '["b", "a"]'),
        ({"tier": Tier.STANDARD}, '{"tier": "standard"}'),
        (REDACTED, "(sensitive value)"),
        (ABSENT, "(absent)"),
    ],
)
def test_format_value(value: object, shown: str) -> None:
    assert views.format_value(value) == shown


def test_summary_lines_with_and_without_a_recovery() -> None:
    counts = Summary(add=2, change=1, destroy=0, recover=1)
    assert views.summary_line(counts) == "Plan: 1 to recover, 2 to add, 1 to change, 0 to destroy."
    assert views.summary_line(counts, operation="apply") == (
        "Apply complete! Resources: 1 recovered, 2 added, 1 changed, 0 destroyed."
    )
    assert views.summary_line(Summary()) == views.SUMMARY_FORMAT.format(add=0, change=0, destroy=0)


def test_each_action_has_a_verb_and_its_own_colour() -> None:
    codes = {}
    for action in (a for a in Action if a is not Action.NO_OP):
        assert views.verb(action).isalpha()
        painted = views.render_text(Plan((Change("vault.kv", action),)), color=True)
        found = re.search(
            rf"\x1b\[(\d+)m{re.escape(views.symbol(action))}\x1b\[0m vault\.kv", painted
        )
        assert found, painted
        codes[action] = found.group(1)
    assert len(set(codes.values())) == len(codes) and "0" not in codes.values()


def test_diagnostics_sorted_by_address_then_summary() -> None:
    found = [
        Diagnostic("error", "b", address="secret.z"),
        Diagnostic("error", "a", address="secret.z"),
        Diagnostic("error", "c"),
    ]
    assert [(d.address, d.summary) for d in views.sorted_diagnostics(found)] == [
        (None, "c"),
        ("secret.z", "a"),
        ("secret.z", "b"),
    ]


def test_warnings_come_before_errors_and_an_error_replaces_the_summary() -> None:
    plan = Plan(
        (Change("vault.kv", Action.CREATE),),
        (Diagnostic("error", "refused", "why\n\nmore"), Diagnostic("warning", "heads up")),
    )
    text = views.render_text(plan)
    assert text.index("Warning: heads up") < text.index("Error: refused")
    assert "  why\n\n  more\n" in text
    assert text.endswith("Planning failed: 1 error; nothing will be applied.\n")


# --------------------------------------------------------------------------
# Markdown: the plan in a job summary


def _markdown_blocks(document: str) -> tuple[str, str]:
    """(fence, body) of the one fenced block, read the way CommonMark closes a fence."""
    lines = document.splitlines()
    opening = next(i for i, line in enumerate(lines) if line.startswith("```"))
    fence = re.match("`+", lines[opening]).group(0)  # type: ignore[union-attr]
    closing = next(
        i
        for i in range(opening + 1, len(lines))
        if lines[i].strip().startswith(fence) and set(lines[i].strip()) == {"`"}
    )
    return fence, "\n".join(lines[opening + 1 : closing]) + "\n"


def test_markdown_fences_the_text_plan_verbatim_under_its_verdict() -> None:
    plan = Plan(
        (
            Change("secret.a", Action.CREATE, reason="declared"),
            Change("secret.b", Action.DELETE, reason="offboarded"),
        )
    )
    document = views.render_markdown(plan)
    assert document.startswith("**Plan: 1 to add, 0 to change, 1 to destroy.**\n\n")
    fence, body = _markdown_blocks(document)
    assert fence == "```"
    assert body == views.render_text(plan)  # + - # lines untouched, inside the block
    assert "  - secret.b" in body and "  # secret.a will be created" in body


def test_a_backtick_run_in_the_plan_cannot_close_the_fence() -> None:
    plan = Plan((Change("secret.a", Action.CREATE, reason="a ```` run and ``` more"),))
    document = views.render_markdown(plan)
    fence, body = _markdown_blocks(document)
    assert fence == "`````"
    assert body == views.render_text(plan)


def test_fenced_text_keeps_its_last_line() -> None:
    assert views.fenced("no newline") == "```text\nno newline\n```\n"
    assert views.fenced("") == "```text\n\n```\n"


def test_an_empty_or_failed_plan_states_its_verdict() -> None:
    assert views.render_markdown(Plan(())).startswith(f"**{views.NO_CHANGES}**")
    failed = Plan((), (Diagnostic("error", "refused"),))
    assert views.render_markdown(failed).startswith("**Planning failed: 1 error.**")
