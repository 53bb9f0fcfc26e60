"""Loading good manifests: the examples, value sources, moments, redaction."""

from __future__ import annotations

import pickle
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from keyvault_platform.core.yaml_source import InputError, load_yaml_file
from keyvault_platform.sync.manifests import (
    ALPHABETS,
    Generator,
    Moment,
    SecretValue,
    load_manifests,
    parse_moment,
    schema_validator,
)

from .conftest import CANARY

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST_DIR = REPO_ROOT / "secrets"

EXAMPLE_ENV = {
    "GLOBAL_SMTP_PASSWORD": CANARY,
    "CONTOSO_DB_PASSWORD": CANARY,
    "FABRIKAM_STORAGE_CONNECTION_STRING": CANARY,
}


def examples(tmp_path: Path) -> Path:
    """The shipped example manifests, with the file their contoso manifest reads."""
    target = tmp_path / "secrets"
    shutil.copytree(DEFAULT_MANIFEST_DIR, target, ignore=shutil.ignore_patterns("values"))
    (target / "values").mkdir()
    (target / "values" / "contoso-smtp-password.txt").write_text(CANARY, encoding="utf-8")
    return target


def test_schema_is_valid_json_schema_2020_12() -> None:
    document = load_yaml_file(REPO_ROOT / "secrets.schema.yaml")
    Draft202012Validator.check_schema(document.data)
    assert document.data["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_example_manifests_name_the_schema_for_editors() -> None:
    for path in DEFAULT_MANIFEST_DIR.glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../secrets.schema.yaml", path


def test_example_manifests_load(tmp_path: Path) -> None:
    loaded = load_manifests([examples(tmp_path)], root=tmp_path, environ=EXAMPLE_ENV)
    names = {s.vault_name for s in loaded.secrets}
    assert "GLOBAL--smtp-password" in names
    assert "contoso--db-password" in names
    assert "fabrikam--webhook-secret" in names
    assert loaded.scopes == {"GLOBAL", "contoso", "fabrikam"}
    by_name = {s.vault_name: s for s in loaded.secrets}
    assert by_name["contoso--smtp-password"].value.reveal() == CANARY
    assert by_name["fabrikam--webhook-secret"].value is None
    assert by_name["fabrikam--webhook-secret"].generator == Generator(32, "hex")
    assert by_name["GLOBAL--smtp-password"].tags["description"] == "Outbound mail relay password"
    assert by_name["fabrikam--feature-flags"].enabled is False


def test_values_never_show_in_reprs(tmp_path: Path) -> None:
    loaded = load_manifests([examples(tmp_path)], root=tmp_path, environ=EXAMPLE_ENV)
    for secret in loaded.secrets:
        assert CANARY not in repr(secret)
        assert CANARY not in str(secret)
    assert CANARY not in repr(loaded)
    value = SecretValue(CANARY)
    assert CANARY not in f"{value} {value!r} {value:>40}"
    with pytest.raises(TypeError):
        pickle.dumps(value)


def test_missing_values_are_listed_together(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_manifests([DEFAULT_MANIFEST_DIR], root=REPO_ROOT, environ={})
    messages = [p.message for p in caught.value.problems]
    assert any("GLOBAL_SMTP_PASSWORD is not set" in m for m in messages)
    assert any("CONTOSO_DB_PASSWORD is not set" in m for m in messages)
    assert any("FABRIKAM_STORAGE_CONNECTION_STRING is not set" in m for m in messages)


def test_no_manifests_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no manifests"):
        load_manifests([tmp_path], root=tmp_path, environ={})


def test_file_source_is_relative_to_the_manifest(write_manifest, tmp_path: Path) -> None:
    directory = write_manifest(
        "acme.yaml",
        """\
        scope: acme
        secrets:
          - name: tls-key
            value: {file: keys/tls.key}
        """,
    )
    (directory / "keys").mkdir()
    (directory / "keys" / "tls.key").write_bytes(CANARY.encode() + b"\n")
    loaded = load_manifests([directory], root=tmp_path, environ={})
    assert loaded.secrets[0].value.reveal() == CANARY + "\n"  # exact bytes, newline kept


def test_file_not_utf8_and_too_large(write_manifest, tmp_path: Path) -> None:
    directory = write_manifest(
        "acme.yaml",
        """\
        scope: acme
        secrets:
          - name: a
            value: {file: binary.bin}
          - name: b
            value: {file: huge.txt}
          - name: c
            value: {file: .}
        """,
    )
    (directory / "binary.bin").write_bytes(b"\xff\xfe\x00")
    (directory / "huge.txt").write_text("x" * 30_000)
    with pytest.raises(InputError) as caught:
        load_manifests([directory], root=tmp_path, environ={})
    messages = " | ".join(p.message for p in caught.value.problems)
    assert "is not UTF-8 text" in messages
    assert "30,000 bytes; Key Vault allows at most 25,600" in messages
    assert "is a directory" in messages


def test_full_name_at_the_limit_is_accepted(write_manifest, tmp_path: Path) -> None:
    name = "n" * (127 - len("acme--"))
    directory = write_manifest(
        "acme.yaml",
        f"""\
        scope: acme
        secrets:
          - name: {name}
            value: {{env: V}}
        """,
    )
    loaded = load_manifests([directory], root=tmp_path, environ={"V": "x"})
    assert len(loaded.secrets[0].vault_name) == 127


def test_scope_without_secrets_still_counts_for_pruning(write_manifest, tmp_path) -> None:
    directory = write_manifest("acme.yaml", "scope: acme\nsecrets: []\n")
    loaded = load_manifests([directory], root=tmp_path, environ={})
    assert loaded.secrets == ()
    assert loaded.scopes == {"acme"}


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("30m", timedelta(minutes=30)),
        ("P90D", timedelta(days=90)),
        ("P2W", timedelta(weeks=2)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
    ],
)
def test_durations(text: str, after: timedelta) -> None:
    moment = parse_moment(text)
    assert isinstance(moment, Moment) and moment.after == after
    base = datetime(2026, 1, 1, tzinfo=UTC)
    assert moment.resolve(base) == base + after


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2027-06-30", datetime(2027, 6, 30, tzinfo=UTC)),
        ("2027-06-30T12:00:00Z", datetime(2027, 6, 30, 12, tzinfo=UTC)),
        ("2027-06-30T14:00:00+02:00", datetime(2027, 6, 30, 12, tzinfo=UTC)),
        ("2027-06-30 12:00:00", datetime(2027, 6, 30, 12, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_instants(text: str, at: datetime) -> None:
    moment = parse_moment(text)
    assert isinstance(moment, Moment) and moment.at == at


@pytest.mark.parametrize("text", ["P", "PT", "0d", "P0D", "2027-13-01"])
def test_bad_moments(text: str) -> None:
    assert isinstance(parse_moment(text), str)


def test_generated_values_use_their_alphabet() -> None:
    for alphabet, chars in ALPHABETS.items():
        value = Generator(64, alphabet).generate().reveal()
        assert len(value) == 64 and set(value) <= set(chars)
    assert Generator(32).generate().reveal() != Generator(32).generate().reveal()


def test_schema_validator_is_cached() -> None:
    assert schema_validator() is schema_validator()


def test_a_10000_secret_manifest_loads(tmp_path: Path) -> None:
    # No alias: only the file's bytes bound it (the alias guard counts repeats only).
    entries = "".join(
        f"  - name: secret-{i:05d}\n    value: {{generate: {{length: 32}}}}\n"
        f"    tags: {{team: t{i % 7}}}\n"
        for i in range(10_000)
    )
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "big.yaml").write_text(f"scope: acme\nsecrets:\n{entries}", encoding="utf-8")
    manifests = load_manifests([directory], root=tmp_path, environ={})
    assert len(manifests.secrets) == 10_000
