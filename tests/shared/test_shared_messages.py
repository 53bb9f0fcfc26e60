"""Every JSON line the commands print is a member of the closed set, in the envelope.

The provisioning and sync commands run with ``--output json`` against the
emulator (the real SDK clients over HTTPS): plan, apply, verify, a failed
apply and a command error. Each line must parse, carry the envelope and a
``type`` from :class:`~keyvault_platform.core.messages.MessageType`, and
``version`` must come first, once. The demo's lines are checked the same
way by tests/newcomer/test_demo.py.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli import provision
from keyvault_platform.cli.sync import prepare, run_sync
from keyvault_platform.core.messages import MessageType

TYPES = {kind.value for kind in MessageType}
DEMO_ONLY = {MessageType.DEMO_STEP.value, MessageType.DEMO_SUMMARY.value}
# validate's own line (tests/tool/test_validate.py checks its stream)
VALIDATE_ONLY = {MessageType.VALIDATE_SUMMARY.value}
WAITS = ["--principal-wait", "3", "--rbac-wait", "30"]


def stream_types(text: str) -> list[str]:
    """The ``type`` of each line, after checking the line is a well-formed message."""
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines, "no JSON lines"
    for line in lines:
        assert list(line)[:3] == ["@level", "@message", "type"], line
        assert line["@level"] in ("info", "warning", "error"), line
        assert line["type"] in TYPES, f"{line['type']!r} is not a MessageType"
    types = [line["type"] for line in lines]
    assert types[0] == "version" and types.count("version") == 1, types
    return types


def environment_file(emulator, path: Path) -> Path:
    suffix = uuid.uuid4().hex[:10]
    path.write_text(
        f"""\
target: {{kind: emulator, state_dir: {emulator.state_dir}}}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group: {{name: rg-m{suffix}, location: westeurope}}
vault: {{name: kv-m{suffix}}}
access:
  - name: app-reads-secrets
    principal_id: {emulator.object_id("app")}
    role: Key Vault Secrets User
""",
        encoding="utf-8",
    )
    return path


def run_provision(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = (*argv, "--output", "json", "--auto-approve")
    code = provision.run(list(argv), stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def run_sync_json(client, manifests: Path, **options) -> tuple[int, str]:
    request = prepare([manifests], environ={}, root=manifests, allow_development_key=True)
    out = io.StringIO()
    output = cli.Output(out=out, err=io.StringIO(), format="json")
    code, _, _ = run_sync(request, client, output, plan_only=False, retry_base_s=0.05, **options)
    return code, out.getvalue()


def test_provision_and_sync_print_only_the_closed_set(emulator, vault, tmp_path: Path) -> None:
    seen: set[str] = set()

    env = environment_file(emulator, tmp_path / "env.yaml")
    for argv, expected_code in (
        (["--env", str(env), *WAITS, "--plan"], 2),  # plan only
        (["--env", str(env), *WAITS], 0),  # apply and verify
        (["--env", str(tmp_path / "missing.yaml")], 1),  # the command's error path
    ):
        code, text = run_provision(*argv)
        assert code == expected_code, text
        seen.update(stream_types(text))

    emulator.set_throttling(vault.name, enabled=False)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "acme.yaml").write_text(
        "scope: acme\nsecrets:\n"
        "  - name: api-key\n    value: {generate: {length: 24}}\n"
        "  - name: url\n    sensitive: false\n    value: {literal: https://acme.example}\n",
        encoding="utf-8",
    )
    client = emulator.secret_client(vault, "sync")
    fragile = emulator.secret_client(vault, "sync", retry_total=0)
    try:
        code, text = run_sync_json(client, manifests)
        assert code == 0, text
        seen.update(stream_types(text))
        # A failed apply: every write fails (500), tried once.
        (manifests / "acme.yaml").write_text(
            "scope: acme\nsecrets:\n  - name: other\n    value: {generate: {length: 24}}\n",
            encoding="utf-8",
        )
        emulator.set_faults(vault.name, error_rate=1.0, statuses=(500,), operations={"SecretSet"})
        try:
            code, text = run_sync_json(fragile, manifests, max_attempts=1)
        finally:
            emulator.clear_faults(vault.name)
        assert code == 1, text
        failed = stream_types(text)
        assert "diagnostic" in failed and failed[-1] == "diagnostic"
        seen.update(failed)
    finally:
        client.close()
        fragile.close()

    # Every type but the demo's was exercised, so none escaped the check.
    assert seen == TYPES - DEMO_ONLY - VALIDATE_ONLY
