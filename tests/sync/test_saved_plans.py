"""Pull-request plans, saved plans, approval and targets: the sync command on the emulator.

Everything runs ``keyvault-platform sync`` through its own ``main`` (or as a
child process at a pseudo-terminal) against emulator vaults over HTTPS with
the real ``SecretClient``; writes are counted in the emulator's audit log.

The scene: a vault the sync has already written to (``same``, ``meta``,
``old``, and ``recovered``, since soft-deleted), a secret someone else set
and soft-deleted (``conflict``), and a pull request's manifest that creates
``created`` and a public literal, changes ``meta``'s description, keeps
``same``, declares ``recovered`` again and drops ``old``.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.approval import PROMPT
from keyvault_platform.cli.sync import build_parser, main

from ..reliability.leakscan import LeakScanner
from .conftest import TEST_KEY

WRITES = {"SecretSet", "SecretUpdate", "SecretDelete", "SecretRecover", "SecretPurge"}

#: Unique marker values: none may appear in any output or plan file.
MARKERS = {
    "SAME": "marker-same-5b0e9c1f",
    "META": "marker-meta-77d2a4c8",
    "OLD": "marker-old-0c3f9e12",
    "RECOVERED": "marker-recovered-a9b8",
    "CREATED": "marker-created-4d4e1a",
    "BY_HAND": "marker-by-hand-e3e0f2",
}

SEED = """\
scope: acme
secrets:
  - name: same
    value: {env: SAME}
  - name: meta
    description: before
    value: {env: META}
  - name: old
    value: {env: OLD}
  - name: recovered
    value: {env: RECOVERED}
"""

PULL_REQUEST = """\
scope: acme
secrets:
  - name: same
    value: {env: SAME}
  - name: meta
    description: after
    value: {env: META}
  - name: recovered
    value: {env: RECOVERED}
  - name: created
    value: {file: created.txt}
  - name: public-url
    sensitive: false
    value: {literal: "https://status.acme.example"}
"""

CONFLICT = """\
  - name: conflict
    value: {env: CONFLICT}
"""


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Scene:
    """A vault the sync has written, an environment file, and the command."""

    def __init__(self, emulator: Any, tmp_path: Path, *, conflict: bool = False) -> None:
        self.emulator = emulator
        self.tmp = tmp_path
        self.vault = emulator.create_vault()
        emulator.assign_role("sync", "Key Vault Secrets Officer", self.vault.resource_id)
        # The pull request's identity: metadata only, never a value.
        emulator.assign_role("outsider", "Key Vault Reader", self.vault.resource_id)
        self.env = tmp_path / "env.yaml"
        self.env.write_text(
            f"""\
target:
  kind: emulator
  state_dir: {emulator.state_dir}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group:
  name: rg-local
  location: westeurope
vault:
  name: {self.vault.name}
sync:
  identity: sync
""",
            encoding="utf-8",
        )
        self.manifests = tmp_path / "manifests"
        self.manifests.mkdir()
        self.values = {**MARKERS, "SYNC_FINGERPRINT_KEY": TEST_KEY}
        self.write(SEED)
        seeded = self.sync(self.values, "--auto-approve")
        assert seeded.code == 0, seeded.text
        client = emulator.secret_client(self.vault, "sync")
        client.begin_delete_secret("acme--recovered").wait()
        if conflict:
            client.set_secret("acme--conflict", "someone-elses")
            client.begin_delete_secret("acme--conflict").wait()
        client.close()
        (self.manifests / "created.txt").write_text(MARKERS["CREATED"], encoding="utf-8")
        self.write(PULL_REQUEST + (CONFLICT if conflict else ""))

    def write(self, text: str) -> None:
        (self.manifests / "acme.yaml").write_text(textwrap.dedent(text), encoding="utf-8")

    def argv(self, *extra: str) -> list[str]:
        return ["--env", str(self.env), "--manifests", str(self.manifests), *extra]

    def sync(self, environ: Mapping[str, str], *argv: str, manifests: bool = True) -> Ran:
        def command(args: Any, out: cli.Output) -> int:
            return main(args, out, environ=environ)

        out, err = io.StringIO(), io.StringIO()
        full = self.argv(*argv) if manifests else list(argv)
        code = cli.run(build_parser(), command, full, stdout=out, stderr=err)
        return Ran(code, out.getvalue(), err.getvalue())

    def writes_since(self, since: float) -> list[tuple[str, str]]:
        return sorted(
            (r.operation, r.secret)
            for r in self.emulator.audit(vault=self.vault.name, since=since)
            if r.operation in WRITES
        )

    def value(self, name: str) -> str | None:
        client = self.emulator.secret_client(self.vault, "sync")
        try:
            return str(client.get_secret(name).value)
        finally:
            client.close()


def leak_scanner() -> LeakScanner:
    return LeakScanner([*MARKERS.values(), TEST_KEY], label="marker")


# --------------------------------------------------------------------------
# The pull request's plan: no value, no key, a read-only identity


def test_pull_request_plan_needs_no_value_no_key_and_only_reads(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path, conflict=True)
    since = time.time()
    plan_file = tmp_path / "plan.json"
    scanner = leak_scanner()
    with scanner.capture("pull request plan"):
        ran = scene.sync(
            {},  # none of the values, no fingerprint key
            "--plan",
            "--without-values",
            "--prune",
            "--identity",
            "outsider",
            "--out",
            str(plan_file),
        )
    out = ran.out
    # Every kind of change, and the refusal, in one plan.
    assert "+ secret.acme--created" in out
    assert '+ value = "https://status.acme.example"' in out  # a literal, sensitive: false
    assert "~ secret.acme--same" in out and "~ value = (compared at apply)" in out
    assert '~ tags: {"description": "before"} -> {"description": "after"}' in out
    assert "- secret.acme--old" in out
    assert "^ secret.acme--recovered" in out
    assert "held by a soft-deleted secret the sync does not own" in out
    assert "compare a value at apply" in out
    assert ran.code == 1  # the conflict is an error: nothing to apply, no file saved
    assert not plan_file.exists()
    # The outsider only listed: no value read, nothing written.
    records = emulator.audit(vault=scene.vault.name, since=since)
    data = [r for r in records if r.plane == "data"]
    assert data and {r.identity for r in data} == {"outsider"}
    assert {r.operation for r in data} == {"SecretList", "SecretListDeleted"}
    assert not [r for r in records if r.is_write]  # (the vault's URL comes from an ARM read)
    scanner.scan_text("plan stdout", ran.out)
    scanner.scan_text("plan stderr", ran.err)
    scanner.assert_clean()


def test_pull_request_plan_file_holds_no_value_and_its_apply_compares_values(
    emulator, tmp_path: Path
) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    scanner = leak_scanner()
    with scanner.capture("plan"):
        planned = scene.sync(
            {}, "--plan", "--without-values", "--prune", "--identity", "outsider",
            "--out", str(plan_file),
        )  # fmt: skip
    assert planned.code == 2, planned.text
    saved = json.loads(plan_file.read_text(encoding="utf-8"))
    assert saved["format"] == "keyvault-platform-plan" and saved["without_values"] is True
    assert {c["resource"]["addr"] for c in saved["changes"]} == {
        "secret.acme--created",
        "secret.acme--meta",
        "secret.acme--old",
        "secret.acme--public-url",
        "secret.acme--recovered",
        "secret.acme--same",
    }
    assert saved["state"]["secret.acme--same"]["digest"].startswith("sha256:")
    scanner.scan_text("plan file", plan_file.read_text(encoding="utf-8"))
    # No fingerprint tag in the file, even keyed.
    assert "v1:" not in plan_file.read_text(encoding="utf-8")

    since = time.time()
    with scanner.capture("apply"):
        applied = scene.sync(scene.values, "--from-plan", str(plan_file), "--auto-approve",
                             manifests=False)  # fmt: skip
    assert applied.code == 0, applied.text
    # The value of `same` matched at apply: no write to it; the rest as planned.
    assert scene.writes_since(since) == [
        ("SecretDelete", "acme--old"),
        ("SecretRecover", "acme--recovered"),
        ("SecretSet", "acme--created"),
        ("SecretSet", "acme--public-url"),
        ("SecretUpdate", "acme--meta"),
    ]
    assert scene.value("acme--created") == MARKERS["CREATED"]
    again = scene.sync(scene.values, "--plan", "--prune")
    assert again.code == 0 and "No changes." in again.out, again.text
    scanner.scan_text("apply", applied.text)
    scanner.assert_clean()


def test_a_value_that_changed_is_set_at_apply_within_the_planned_addresses(
    emulator, tmp_path: Path
) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    targeted = scene.sync(
        {}, "--plan", "--without-values", "--target", "secret.acme--same",
        "--out", str(plan_file),
    )  # fmt: skip
    assert targeted.code == 2, targeted.text
    assert "secret.acme--created" not in targeted.out
    since = time.time()
    changed = {**scene.values, "SAME": "marker-same-changed-91c2"}
    applied = scene.sync(changed, "--from-plan", str(plan_file), "--auto-approve",
                         manifests=False)  # fmt: skip
    assert applied.code == 0, applied.text
    assert scene.writes_since(since) == [("SecretSet", "acme--same")]
    assert scene.value("acme--same") == "marker-same-changed-91c2"


# --------------------------------------------------------------------------
# Saved plans: exactly that plan, or a refusal when stale


def test_a_fresh_plan_file_is_applied_exactly(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    planned = scene.sync(scene.values, "--plan", "--out", str(plan_file))
    assert planned.code == 2, planned.text
    scanner = leak_scanner()
    scanner.scan_text("plan file", plan_file.read_text(encoding="utf-8"))
    scanner.assert_clean()
    since = time.time()
    applied = scene.sync(scene.values, "--from-plan", str(plan_file), "--auto-approve",
                         manifests=False)  # fmt: skip
    assert applied.code == 0, applied.text
    # Without --prune in the plan, `old` stays: the apply took the plan's options.
    assert scene.writes_since(since) == [
        ("SecretRecover", "acme--recovered"),
        ("SecretSet", "acme--created"),
        ("SecretSet", "acme--public-url"),
        ("SecretUpdate", "acme--meta"),
    ]


def test_a_plan_is_refused_once_the_vault_changed_and_nothing_is_written(
    emulator, tmp_path: Path
) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert scene.sync(scene.values, "--plan", "--out", str(plan_file)).code == 2
    client = emulator.secret_client(scene.vault, "sync")
    client.set_secret("acme--same", MARKERS["BY_HAND"])  # by hand, between plan and apply
    client.close()
    since = time.time()
    refused = scene.sync(scene.values, "--from-plan", str(plan_file), "--auto-approve",
                         manifests=False)  # fmt: skip
    assert refused.code == 1
    assert "is stale" in refused.err and "secret.acme--same: changed" in refused.err
    assert "make a new plan" in refused.err
    assert scene.writes_since(since) == []
    scanner = leak_scanner()
    scanner.scan_text("refusal", refused.text)
    scanner.assert_clean()


def test_a_plan_is_refused_once_a_manifest_changed(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert scene.sync(scene.values, "--plan", "--out", str(plan_file)).code == 2
    scene.write(PULL_REQUEST.replace("description: after", "description: later"))
    since = time.time()
    refused = scene.sync(scene.values, "--from-plan", str(plan_file), "--auto-approve",
                         manifests=False)  # fmt: skip
    assert refused.code == 1 and "the input files changed" in refused.err, refused.text
    assert "acme.yaml: changed" in refused.err
    assert scene.writes_since(since) == []
    # Nothing is even listed: the inputs are checked before any request.
    assert not emulator.audit(vault=scene.vault.name, since=since)


def test_from_plan_takes_no_planning_option(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert scene.sync(scene.values, "--plan", "--out", str(plan_file)).code == 2
    ran = scene.sync(scene.values, "--from-plan", str(plan_file), "--prune", "--auto-approve")
    assert ran.code == 1 and "drop --manifests, --prune" in ran.err, ran.text


# --------------------------------------------------------------------------
# Targets


def test_an_unknown_target_is_a_located_error_with_near_matches(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    since = time.time()
    ran = scene.sync(scene.values, "--target", "secret.acme--craeted", "--auto-approve")
    assert ran.code == 1
    assert (
        "--target: 'secret.acme--craeted' is not an address in this plan; did you mean "
        "'secret.acme--created'?" in ran.err
    ), ran.text
    assert scene.writes_since(since) == []


def test_a_target_applies_only_its_change(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    since = time.time()
    ran = scene.sync(scene.values, "--target", "SECRET.acme--created", "--auto-approve")
    assert ran.code == 0, ran.text
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in ran.out
    assert scene.writes_since(since) == [("SecretSet", "acme--created")]


# --------------------------------------------------------------------------
# Approval


def test_without_a_terminal_and_without_auto_approve_apply_refuses(
    emulator, tmp_path: Path
) -> None:
    scene = Scene(emulator, tmp_path)
    since = time.time()
    ran = scene.sync(scene.values, "--prune")
    assert ran.code == 1
    assert "refusing to apply without approval" in ran.err and "--auto-approve" in ran.err
    assert scene.writes_since(since) == []
    as_json = scene.sync(scene.values, "--output", "json")
    assert as_json.code == 1 and "needs --auto-approve" in as_json.err
    assert scene.writes_since(since) == []


def _at_a_terminal(argv: list[str], environ: dict[str, str], answer: str) -> tuple[int, str]:
    """Run ``keyvault-platform ARGV`` with a pseudo-terminal as stdin and stdout.

    Answers the prompt with ``answer`` once it shows; bounded in time.
    """
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "keyvault_platform", *argv],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, **environ, "NO_COLOR": "1"},
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and PROMPT.strip().encode() in seen:
                    os.write(leader, answer.encode() + b"\n")
                    answered = True
            elif child.poll() is not None:
                break
        code = child.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(leader)
        assert child.stderr is not None
        child.stderr.close()
    assert answered, seen.decode(errors="replace")
    return code, seen.decode(errors="replace")


def test_at_a_terminal_no_writes_nothing_and_yes_applies(emulator, tmp_path: Path) -> None:
    scene = Scene(emulator, tmp_path)
    argv = ["sync", *scene.argv("--prune")]
    since = time.time()
    code, shown = _at_a_terminal(argv, scene.values, "no")
    assert code == 1, shown
    assert "This plan DELETES 1 resource:" in shown and "  - secret.acme--old" in shown
    assert scene.writes_since(since) == []
    code, shown = _at_a_terminal(argv, scene.values, "yes")
    assert code == 0, shown
    assert "Apply complete!" in shown
    assert ("SecretDelete", "acme--old") in scene.writes_since(since)
    scanner = leak_scanner()
    scanner.scan_text("terminal", shown)
    scanner.assert_clean()


@pytest.mark.parametrize("answer", ["y", "YES please", ""])
def test_only_yes_is_accepted(answer: str) -> None:
    """The prompt's rule, without a vault: anything but 'yes' cancels."""
    from keyvault_platform.cli.approval import approve
    from keyvault_platform.core.errors import ActionableError
    from keyvault_platform.core.plan import Action, Change, Plan

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = cli.Output(out=Terminal(), err=io.StringIO(), stdin=Terminal(answer + "\n"))
    plan = Plan((Change("secret.acme--x", Action.DELETE),))
    with pytest.raises(ActionableError, match="apply cancelled"):
        approve(out, plan, auto_approve=False)
    assert "This plan DELETES 1 resource:" in out.out.getvalue()  # type: ignore[attr-defined]
