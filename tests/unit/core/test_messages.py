"""JSON lines: one envelope, a closed set of types, each built in one place and documented."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from keyvault_platform.core import messages
from keyvault_platform.core.messages import JSON_UI_VERSION, MessageType
from keyvault_platform.core.plan import Action, Change, Diagnostic, FieldDiff, Plan, Summary

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "infra" / "keyvault_platform"
BUILDER_MODULE = PACKAGE / "core" / "messages.py"
PIPELINES_DOC = ROOT / "docs" / "pipelines.md"
ENVELOPE = ["@level", "@message", "type"]

CHANGE = Change("vault.kv-demo", Action.UPDATE, (FieldDiff("tags", {"a": "1"}, {"a": "2"}),))

#: One sample line per message type, from its builder. Adding a type without
#: a sample here fails test_every_type_has_a_sample_and_one_builder.
SAMPLES: dict[MessageType, Callable[[], str]] = {
    MessageType.VERSION: messages.version,
    MessageType.PLANNED_CHANGE: lambda: messages.planned_change(CHANGE),
    MessageType.DIAGNOSTIC: lambda: messages.diagnostic(
        Diagnostic("warning", "drift", "detail", "vault.kv-demo")
    ),
    MessageType.CHANGE_SUMMARY: lambda: messages.change_summary(
        Summary(add=1, recover=1), operation="apply"
    ),
    MessageType.APPLY_COMPLETE: lambda: messages.apply_complete(CHANGE),
    MessageType.VERIFY_RESULT: lambda: messages.verify_result(
        "app can read", "failed", detail="403", address="role_assignment.app"
    ),
    # Every step's fields, so the documentation check sees them all.
    MessageType.VALIDATE_SUMMARY: lambda: messages.validate_summary(
        "Valid: 2 environment files, 3 manifests (9 secrets).",
        valid=True,
        environments=2,
        manifests=3,
        secrets=9,
        problems=0,
    ),
    MessageType.DEMO_STEP: lambda: messages.demo_step(
        "step done",
        step="provision",
        url="https://127.0.0.1:1",
        changed=True,
        summary="1 added",
        output=["a line"],
        app_requests=6,
    ),
    MessageType.DEMO_SUMMARY: lambda: messages.demo_summary(
        changed=False,
        provision=None,
        sync=None,
        vault_url="https://127.0.0.1:2/",
        secrets=["GLOBAL--x"],
        app_requests=6,
        elapsed_s=1.5,
    ),
}


def sample(kind: MessageType) -> dict:
    return json.loads(SAMPLES[kind]())


def test_every_type_has_a_sample_and_one_builder_named_like_it() -> None:
    assert set(SAMPLES) == set(MessageType)
    for kind in MessageType:
        builder = getattr(messages, kind.value, None)
        assert callable(builder), f"no builder messages.{kind.value}()"
        assert kind.value in messages.__all__


@pytest.mark.parametrize("kind", list(MessageType))
def test_each_line_is_the_envelope_then_its_payload(kind: MessageType) -> None:
    line = sample(kind)
    assert list(line)[:3] == ENVELOPE
    assert line["type"] == kind.value
    assert line["@level"] in ("info", "warning", "error")
    assert isinstance(line["@message"], str) and line["@message"]
    assert set(line) - set(ENVELOPE), f"{kind.value} has no payload"


def test_levels_follow_the_content() -> None:
    assert sample(MessageType.VERIFY_RESULT)["@level"] == "error"
    assert json.loads(messages.verify_result("x", "ok"))["@level"] == "info"
    assert json.loads(messages.verify_result("x", "skipped", detail=""))["check"]["detail"] is None
    assert sample(MessageType.DIAGNOSTIC)["@level"] == "warning"
    error = messages.diagnostic(Diagnostic("error", "refused"))
    assert json.loads(error)["@level"] == "error"


def test_version_line_names_the_format_version() -> None:
    assert re.fullmatch(r"\d+\.\d+", JSON_UI_VERSION)
    line = sample(MessageType.VERSION)
    assert line["ui"] == JSON_UI_VERSION and line["tool"] == "keyvault-platform"


def test_a_plan_stream_uses_only_the_closed_set_and_opens_with_version_once() -> None:
    plan = Plan((CHANGE,), (Diagnostic("warning", "w"),))
    lines = [json.loads(text) for text in messages.render_json_lines(plan)]
    assert [line["type"] for line in lines] == [
        "version",
        "planned_change",
        "diagnostic",
        "change_summary",
    ]
    continued = messages.render_json_lines(plan, include_version=False)
    assert [json.loads(text)["type"] for text in continued] == [t["type"] for t in lines[1:]]


def test_text_is_utf8_not_escaped() -> None:
    line = messages.demo_step("app done", step="app", output=["cache hit in 1.0 µs"])
    assert "µs" in line and json.loads(line)["output"] == ["cache hit in 1.0 µs"]


# --------------------------------------------------------------------------
# The documentation table is the reference: exactly the closed set, every field


def documented_types() -> dict[str, str]:
    """``type`` -> its table row, from the "JSON output" section of docs/pipelines.md."""
    text = PIPELINES_DOC.read_text(encoding="utf-8")
    match = re.search(r"^## JSON output\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "docs/pipelines.md has no '## JSON output' section"
    rows: dict[str, str] = {}
    in_table = False
    for line in match.group(1).splitlines():
        if line.startswith("| `type` |"):
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            break
        cell = re.match(r"\| `([a-z_]+)` \|", line) if in_table else None
        if cell:
            assert cell.group(1) not in rows, f"{cell.group(1)} documented twice"
            rows[cell.group(1)] = line
    return rows


def test_the_documentation_lists_exactly_the_message_types() -> None:
    assert set(documented_types()) == {kind.value for kind in MessageType}


@pytest.mark.parametrize("kind", list(MessageType))
def test_the_documentation_names_every_payload_field(kind: MessageType) -> None:
    row = documented_types()[kind.value]
    payload = row.rsplit("|", 2)[-2]
    for field in set(sample(kind)) - set(ENVELOPE):
        assert f"`{field}`" in payload, f"docs/pipelines.md: {kind.value} lacks `{field}`"


def test_the_documented_version_is_the_current_one() -> None:
    text = PIPELINES_DOC.read_text(encoding="utf-8")
    assert f"now **`{JSON_UI_VERSION}`**" in text


# --------------------------------------------------------------------------
# Nothing else builds a JSON line

_ENVELOPE_KEYS = {"@level", "@message"}


def hand_built_lines(source: str, filename: str) -> list[str]:
    """Places in ``source`` that build a JSON-lines message without core/messages.py.

    Any "@level"/"@message" string, and any dict literal with a "type" key
    handed to json.dumps/json.dump.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Constant) and node.value in _ENVELOPE_KEYS:
            found.append(f"{filename}:{node.lineno}: the envelope key {node.value!r}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("dumps", "dump")
            and node.args
            and isinstance(node.args[0], ast.Dict)
        ):
            keys = {k.value for k in node.args[0].keys if isinstance(k, ast.Constant)}
            if keys & (_ENVELOPE_KEYS | {"type"}):
                found.append(f"{filename}:{node.lineno}: json.{node.func.attr} of a message")
    return found


def test_the_scanner_finds_a_hand_built_line() -> None:
    planted = (
        "import json\n"
        "line = json.dumps({'@level': 'info', '@message': 'x', 'type': 'verify_result'})\n"
        "other = json.dumps({'type': 'demo_step', 'step': 'x'})\n"
        "fine = json.dumps({'name': 'x'}), json.dumps(['type'])\n"
    )
    found = hand_built_lines(planted, "planted.py")
    assert len([f for f in found if "envelope key" in f]) == 2
    assert [f for f in found if "json.dumps" in f] == [
        "planted.py:2: json.dumps of a message",
        "planted.py:3: json.dumps of a message",
    ]


def test_only_core_messages_builds_json_lines() -> None:
    sources = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "scripts").rglob("*.py")])
    assert BUILDER_MODULE in sources and len(sources) > 20
    found = [
        problem
        for path in sources
        if path != BUILDER_MODULE
        for problem in hand_built_lines(
            path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))
        )
    ]
    assert found == [], "build JSON lines with keyvault_platform.core.messages:\n" + "\n".join(
        found
    )
    assert hand_built_lines(BUILDER_MODULE.read_text(encoding="utf-8"), "messages.py")
