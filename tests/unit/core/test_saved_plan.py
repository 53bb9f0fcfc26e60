"""Plan files: what they hold, how they are read back, how staleness is told (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyvault_platform.core.errors import ActionableError, InputError
from keyvault_platform.core.plan import Action, Change, FieldDiff, Plan
from keyvault_platform.core.saved_plan import (
    SavedPlan,
    changes_of,
    digest,
    file_digests,
    record,
    refuse_if_stale,
)

SECRET = "never-in-a-plan-file-81f3"


def saved(**overrides) -> SavedPlan:
    plan = Plan(
        (
            Change("secret.a--x", Action.CREATE, (FieldDiff("value", new=SECRET, sensitive=True),)),
            Change("secret.a--y", Action.NO_OP),
        )
    )
    fields = {
        "command": "sync",
        "environment": "prod",
        "options": {"prune": False},
        "inputs": {"secrets/a.yaml": "sha256:" + "0" * 64},
        "state": {"secret.a--x": record(updated="2026-01-01", _tags={"t": "v"})},
        "changes": changes_of(plan),
    }
    return SavedPlan(**{**fields, **overrides})


def test_a_plan_file_round_trips_and_holds_no_sensitive_value(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    saved().write(path)
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text
    data = json.loads(text)
    assert data["format"] == "keyvault-platform-plan" and data["version"] == 1
    assert [c["resource"]["addr"] for c in data["changes"]] == ["secret.a--x"]  # no no-ops
    assert data["state"]["secret.a--x"] == {
        "updated": "2026-01-01",
        "digest": data["state"]["secret.a--x"]["digest"],
    }  # tags only inside the digest
    again = SavedPlan.read(path, command="sync")
    assert again == saved(created=again.created)
    assert again.addresses == {"secret.a--x"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plan file not found"),
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not a plan file"),
        ('{"format": "keyvault-platform-plan", "version": 9}', "plan file version 9"),
        (
            '{"format": "keyvault-platform-plan", "version": 1, "command": "provision"}',
            "a plan of 'provision', not of 'sync'",
        ),
        ('{"format": "keyvault-platform-plan", "version": 1, "command": "sync"}', "damaged"),
    ],
)
def test_a_bad_plan_file_is_a_located_error(tmp_path: Path, content: str | None, message) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        SavedPlan.read(path, command="sync")
    (problem,) = caught.value.problems
    assert problem.location.file == str(path) and message in problem.message


def test_an_edited_plan_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    saved().write(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["state"]["secret.a--x"]["digest"] = digest("something else")
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="digests do not match"):
        SavedPlan.read(path, command="sync")


def test_staleness_names_what_changed(tmp_path: Path) -> None:
    plan = saved()
    refuse_if_stale(plan, tmp_path, inputs=dict(plan.inputs), state=dict(plan.state))
    with pytest.raises(ActionableError) as caught:
        refuse_if_stale(
            plan,
            tmp_path / "plan.json",
            state={
                "secret.a--x": record(updated="2026-02-02", _tags={"t": "v"}),
                "secret.a--z": {},
            },
        )
    text = caught.value.message
    assert "stale: what the plan read from Azure changed" in text
    assert "secret.a--x: changed (updated 2026-01-01 -> 2026-02-02)" in text
    assert "secret.a--z: new" in text
    assert caught.value.hint is not None and "make a new plan" in caught.value.hint
    with pytest.raises(ActionableError, match="the input files changed"):
        refuse_if_stale(plan, tmp_path, inputs={})
    with pytest.raises(ActionableError, match="gives other changes"):
        refuse_if_stale(plan, tmp_path, changes=())


def test_a_tag_change_alone_makes_a_record_differ() -> None:
    assert record(updated="t", _tags={"a": "1"}) != record(updated="t", _tags={"a": "2"})


def test_file_digests_are_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.yaml").write_text("scope: a\n", encoding="utf-8")
    found = file_digests([tmp_path / "m" / "a.yaml"], root=tmp_path)
    assert list(found) == ["m/a.yaml"] and found["m/a.yaml"].startswith("sha256:")
