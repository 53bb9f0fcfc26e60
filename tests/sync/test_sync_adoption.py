"""Adopting a vault made by hand (``sync --adopt``), on the emulator through the real SDK.

A vault holds 200 secrets set by hand: some equal to their manifests, some
different, some declared as generated, some not declared at all. Adoption
must keep every equal and generated value (no new version), rewrite only
the different ones, leave the undeclared ones alone, read each unowned
declared value exactly once (counted in the emulator's audit log), and show
no value anywhere; the next run plans nothing. Without ``--adopt``, a
declared generated secret made by hand is refused, not regenerated.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from keyvault_platform.core.plan import Action
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG

from .conftest import CANARY
from .test_sync_emulator import Sync

EQUAL, DIFFERENT, GENERATED, UNDECLARED = 80, 40, 40, 40


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    return Sync(emulator, vault, tmp_path)


def hand_value(kind: str, i: int) -> str:
    """A unique value per secret, so any leak names its secret."""
    return f"{kind}-{i:03d}-{CANARY}"


def manifest() -> str:
    entries = []
    for i in range(EQUAL):
        entries.append(f"  - name: equal-{i:03d}\n    value: {{env: EQUAL_{i:03d}}}\n")
    for i in range(DIFFERENT):
        entries.append(f"  - name: different-{i:03d}\n    value: {{env: DIFFERENT_{i:03d}}}\n")
    for i in range(GENERATED):
        entries.append(f"  - name: generated-{i:03d}\n    value: {{generate: {{length: 32}}}}\n")
    return "scope: acme\nsecrets:\n" + "".join(entries)


@pytest.fixture
def made_by_hand(sync: Sync) -> dict[str, str]:
    """The vault as a team made it by hand; the manifests and environment to adopt it."""
    values: dict[str, str] = {}
    for kind, count in (
        ("equal", EQUAL),
        ("different", DIFFERENT),
        ("generated", GENERATED),
        ("undeclared", UNDECLARED),
    ):
        for i in range(count):
            values[f"acme--{kind}-{i:03d}"] = hand_value(kind, i)
    for name, value in values.items():
        tags = {"team": "made-by-hand"} if "equal" in name else None
        sync.client.set_secret(name, value, tags=tags)
    sync.write(manifest())
    for i in range(EQUAL):
        sync.environ[f"EQUAL_{i:03d}"] = values[f"acme--equal-{i:03d}"]
    for i in range(DIFFERENT):
        sync.environ[f"DIFFERENT_{i:03d}"] = "declared-" + hand_value("different", i)
    return values


def assert_no_value_in(text: str, values: dict[str, str], sync: Sync) -> None:
    every = [*values.values(), *(sync.environ[k] for k in sync.environ if k[0] in "ED")]
    leaked = [v for v in every if v in text]
    assert not leaked, f"{len(leaked)} value(s) in the output"


def test_a_vault_made_by_hand_is_adopted_without_new_versions(
    sync: Sync, made_by_hand: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every log record of the tool and the SDK
    start = time.time()
    code, plan, _ = sync.run(plan_only=True, adopt=True)
    assert code == 2, sync.output
    actions = {c.address: c.action for c in plan.plan.pending}
    assert sum(a is Action.ADOPT for a in actions.values()) == EQUAL + GENERATED
    assert sum(a is Action.UPDATE for a in actions.values()) == DIFFERENT
    assert f"Plan: {EQUAL + GENERATED} to adopt, 0 to add, {DIFFERENT} to change" in sync.output
    assert "Key Vault Secrets Officer" in sync.output  # says whose rights read the values
    assert_no_value_in(sync.output, made_by_hand, sync)
    # The plan read each unowned declared secret once, and nothing else.
    reads = [r.secret for r in sync.audit(start) if r.operation == "SecretGet"]
    assert sorted(reads) == sorted(n for n in made_by_hand if "undeclared" not in n)

    code, _, _ = sync.run(plan_only=True, adopt=True, output="json")
    assert code == 2
    assert_no_value_in(sync.output, made_by_hand, sync)
    messages = [json.loads(line) for line in sync.output.splitlines() if line.startswith("{")]
    (summary,) = [m for m in messages if m["type"] == "change_summary"]
    assert summary["changes"]["adopt"] == EQUAL + GENERATED
    adopted = [m for m in messages if m["type"] == "planned_change"]
    assert sum(m["change"]["action"] == "adopt" for m in adopted) == EQUAL + GENERATED

    start = time.time()
    code, plan, result = sync.run(adopt=True)
    assert code == 0, sync.output
    assert result is not None and not result.failed
    assert_no_value_in(sync.output, made_by_hand, sync)
    records = sync.audit(start)
    assert [r.operation for r in records].count("SecretSet") == DIFFERENT
    assert {r.secret for r in records if r.operation == "SecretSet"} == {
        n for n in made_by_hand if "different" in n
    }

    for name, value in made_by_hand.items():
        properties = sync.client.get_secret(name).properties
        if "different" in name:
            assert sync.value(name) == "declared-" + value
            assert sync.versions(name) == 2
        else:
            assert sync.value(name) == value  # equal and generated values kept
            assert sync.versions(name) == 1  # no new version
        owned = "undeclared" not in name
        assert (OWNER_TAG in (properties.tags or {})) is owned
        assert (FINGERPRINT_TAG in (properties.tags or {})) is owned
        if "equal" in name:  # metadata converged in the same call: the hand-made tag is gone
            assert "team" not in (properties.tags or {})

    code, plan, _ = sync.run(plan_only=True)
    assert code == 0 and not plan.plan.has_changes, sync.output
    assert caplog.records  # the scan below saw the logs
    assert_no_value_in(caplog.text, made_by_hand, sync)


def test_without_adopt_a_generated_secret_made_by_hand_is_refused(
    sync: Sync, made_by_hand: dict[str, str]
) -> None:
    start = time.time()
    code, plan, result = sync.run()
    assert code == 1 and result is None
    errors = {d.address for d in plan.plan.errors}
    assert errors == {f"secret.acme--generated-{i:03d}" for i in range(GENERATED)}
    assert "sync --adopt" in sync.output and "--rotate acme--generated-000" in sync.output
    assert "acme.yaml" in sync.output  # located: the manifest that declares it
    assert not [r for r in sync.audit(start) if r.is_write]
    assert not [r for r in sync.audit(start) if r.operation == "SecretGet"]
    assert sync.value("acme--generated-000") == made_by_hand["acme--generated-000"]


def test_rotate_replaces_a_generated_secret_made_by_hand_on_purpose(sync: Sync) -> None:
    sync.client.set_secret("acme--generated-000", hand_value("generated", 0))
    sync.write(
        "scope: acme\nsecrets:\n  - name: generated-000\n    value: {generate: {length: 32}}\n"
    )
    code, _, _ = sync.run(rotate=["acme--generated-000"])
    assert code == 0, sync.output
    assert sync.value("acme--generated-000") != hand_value("generated", 0)
    assert sync.versions("acme--generated-000") == 2


def test_adopting_twice_reads_nothing_the_second_time(sync: Sync) -> None:
    sync.client.set_secret("acme--equal-000", hand_value("equal", 0))
    sync.write("scope: acme\nsecrets:\n  - name: equal-000\n    value: {env: EQUAL_000}\n")
    sync.environ["EQUAL_000"] = hand_value("equal", 0)
    assert sync.run(adopt=True)[0] == 0
    start = time.time()
    code, plan, _ = sync.run(adopt=True)
    assert code == 0 and not plan.plan.has_changes
    assert "already the sync's" in sync.output
    assert not [r for r in sync.audit(start) if r.operation == "SecretGet"]
