"""``keyvault-platform import`` then ``sync --adopt``: a vault made by hand, no value written.

On the emulator through the real SDK: the manifests written from a vault
validate against the schema; with their environment variables set to the
values the vault holds, adoption plans only adoptions, and applying it makes
no value write. Names no manifest can hold are set apart with the reason.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli import import_vault
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import Action
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.schemas import schema_text

from .conftest import CANARY
from .test_sync_emulator import Sync

EXPIRES = datetime(2031, 6, 30, 12, 0, tzinfo=UTC)

BY_HAND = {
    "GLOBAL--smtp-password": dict(tags={"description": "Relay login", "team": "ops"}),
    "acme--db-password": dict(content_type="text/plain", expires_on=EXPIRES),
    "acme--signing-key": dict(),
    "acme--old-token": dict(not_before=datetime(2026, 1, 1, tzinfo=UTC)),
    "legacy-connection-string": dict(),  # no manifest can declare it
}


def value_of(name: str) -> str:
    return f"by-hand-{name}-{CANARY}"


@pytest.fixture
def sync(emulator, vault, tmp_path: Path) -> Sync:
    emulator.set_throttling(vault.name, enabled=False)
    made = Sync(emulator, vault, tmp_path)
    for name, options in BY_HAND.items():
        made.client.set_secret(name, value_of(name), **options)
    # The listing needs no value rights: Key Vault Reader is enough.
    emulator.assign_role("outsider", "Key Vault Reader", vault.resource_id)
    return made


def reader(sync: Sync):
    """A client for an identity that may list but not read values."""
    return sync.emulator.secret_client(sync.vault, "outsider")


def run_import(sync: Sync, out_dir: Path, *extra: str) -> str:
    args = import_vault.build_parser().parse_args(["--env", "local", "--out", str(out_dir), *extra])
    stdout = io.StringIO()
    output = cli.Output(out=stdout, err=io.StringIO())
    code = import_vault.main(
        args, output, client_factory=lambda: sync.emulator.secret_client(sync.vault, "outsider")
    )
    assert code == 0
    text = stdout.getvalue()
    assert CANARY not in text
    return text


def test_manifests_from_a_vault_validate_and_adopt_with_no_value_written(
    sync: Sync, tmp_path: Path
) -> None:
    out_dir = tmp_path / "written"
    start = time.time()
    text = run_import(sync, out_dir, "--generate", "acme--signing-key")
    # Listing only: no value read.
    assert not [r for r in sync.audit(start) if r.operation == "SecretGet"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["GLOBAL.yaml", "acme.yaml"]
    assert "legacy-connection-string" in text and "not in a manifest" in text

    schema = yaml.safe_load(schema_text("secrets.schema.yaml"))
    documents = {p.name: p.read_text(encoding="utf-8") for p in out_dir.iterdir()}
    for document in documents.values():
        assert CANARY not in document
        jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(document))
    acme = yaml.safe_load(documents["acme.yaml"])
    entries = {e["name"]: e for e in acme["secrets"]}
    assert entries["db-password"]["value"] == {"env": "ACME__DB_PASSWORD"}
    assert entries["db-password"]["content_type"] == "text/plain"
    assert entries["db-password"]["expires"] == "2031-06-30T12:00:00Z"
    assert entries["old-token"]["not_before"] == "2026-01-01T00:00:00Z"
    assert "generate" in entries["signing-key"]["value"]
    smtp = yaml.safe_load(documents["GLOBAL.yaml"])["secrets"][0]
    assert smtp["description"] == "Relay login" and smtp["tags"] == {"team": "ops"}
    for variable in ("GLOBAL__SMTP_PASSWORD", "ACME__DB_PASSWORD", "ACME__OLD_TOKEN"):
        assert variable in text

    # The round trip: adopt with the variables set to what the vault holds.
    sync.dir = out_dir
    sync.environ.update(
        {
            "GLOBAL__SMTP_PASSWORD": value_of("GLOBAL--smtp-password"),
            "ACME__DB_PASSWORD": value_of("acme--db-password"),
            "ACME__OLD_TOKEN": value_of("acme--old-token"),
        }
    )
    code, plan, _ = sync.run(plan_only=True, adopt=True)
    assert code == 2, sync.output
    assert {c.action for c in plan.plan.pending} == {Action.ADOPT}
    assert len(plan.plan.pending) == 4
    start = time.time()
    code, _, _ = sync.run(adopt=True)
    assert code == 0, sync.output
    assert not [r for r in sync.audit(start) if r.operation == "SecretSet"]
    code, plan, _ = sync.run(plan_only=True)
    assert code == 0 and not plan.plan.has_changes, sync.output
    assert sync.value("acme--signing-key") == value_of("acme--signing-key")


def test_import_writes_nothing_over_existing_manifests(sync: Sync, tmp_path: Path) -> None:
    out_dir = tmp_path / "written"
    run_import(sync, out_dir)
    before = {p.name: p.read_text(encoding="utf-8") for p in out_dir.iterdir()}
    (out_dir / "acme.yaml").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(ActionableError, match=r"acme\.yaml"):
        run_import(sync, out_dir)
    assert (out_dir / "acme.yaml").read_text(encoding="utf-8") == "# mine\n"
    assert (out_dir / "GLOBAL.yaml").read_text(encoding="utf-8") == before["GLOBAL.yaml"]
    run_import(sync, out_dir, "--force")
    assert (out_dir / "acme.yaml").read_text(encoding="utf-8") == before["acme.yaml"]


def test_a_generate_name_not_in_the_vault_is_refused_before_writing(
    sync: Sync, tmp_path: Path
) -> None:
    out_dir = tmp_path / "written"
    with pytest.raises(InputError, match="acme--nope"):
        run_import(sync, out_dir, "--generate", "acme--nope")
    assert not out_dir.exists()


def test_dates_are_written_as_absolute_instants() -> None:
    from keyvault_platform.sync.vault_manifests import manifests_from_vault
    from keyvault_platform.sync.vault_state import ActualSecret

    moment = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC) + timedelta(hours=0)
    listed = ActualSecret("GLOBAL--x", {}, None, True, moment, moment, moment)
    result = manifests_from_vault([listed], vault="kv")
    (document,) = result.files.values()
    entry = yaml.safe_load(document)["secrets"][0]
    assert entry["expires"] == entry["not_before"] == "2030-01-02T03:04:05Z"


def test_a_disabled_secret_cannot_be_read_so_adoption_sets_it_again_or_refuses(
    sync: Sync, tmp_path: Path
) -> None:
    sync.client.set_secret("acme--dormant", value_of("acme--dormant"), enabled=False)
    sync.client.set_secret("acme--dormant-key", value_of("acme--dormant-key"), enabled=False)
    out_dir = tmp_path / "written"
    run_import(sync, out_dir, "--generate", "acme--dormant-key", "--generate", "acme--signing-key")
    entries = {e["name"]: e for e in yaml.safe_load((out_dir / "acme.yaml").read_text())["secrets"]}
    assert entries["dormant"]["enabled"] is False
    sync.dir = out_dir
    sync.environ.update(
        {
            "GLOBAL__SMTP_PASSWORD": value_of("GLOBAL--smtp-password"),
            "ACME__DB_PASSWORD": value_of("acme--db-password"),
            "ACME__OLD_TOKEN": value_of("acme--old-token"),
            "ACME__DORMANT": value_of("acme--dormant"),
        }
    )
    code, plan, _ = sync.run(plan_only=True, adopt=True)
    assert code == 1
    (refusal,) = plan.plan.errors
    assert refusal.address == "secret.acme--dormant-key"
    assert "enable it by hand" in (refusal.detail or "")
    dormant = plan.plan.change("secret.acme--dormant")
    assert dormant is not None and dormant.action is Action.UPDATE
    assert "cannot read it to compare" in (dormant.reason or "")
