"""Value sources: the registry, its agreement with the schema, each source alone."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from keyvault_platform import schemas
from keyvault_platform.sync import value_sources as vs

CANARY = "s3cr3t-CANARY-value-7d1f"


def manifest_schema() -> dict[str, Any]:
    return yaml.safe_load(schemas.schema_text(schemas.SECRETS))


def context(tmp_path: Path, *, sensitive: bool = True, **environ: str) -> vs.SourceContext:
    return vs.SourceContext(environ, tmp_path, sensitive, display_root=tmp_path.parent)


def test_the_schema_and_the_registry_agree() -> None:
    schema = manifest_schema()
    fragments = schema["$defs"]["valueSource"]["properties"]
    assert set(fragments) == set(vs.registered_sources()) == {"env", "file", "generate", "literal"}
    assert vs.schema_disagreements(schema) == []


def test_disagreements_are_named() -> None:
    schema = manifest_schema()
    part = schema["$defs"]["valueSource"]
    part["properties"]["vault"] = {"type": "string"}
    del part["properties"]["literal"]
    assert vs.schema_disagreements(schema) == [
        "value source 'literal' is registered but has no fragment in the schema",
        "the schema allows value source 'vault', which is not registered",
    ]
    del part["maxProperties"]
    assert "exactly one property" in vs.schema_disagreements(schema)[-1]


def test_a_new_source_is_one_class_and_a_fragment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vs, "_REGISTRY", dict(vs._REGISTRY))  # leave the real registry alone

    @dataclass(frozen=True)
    class Constant(vs.ValueSource, key="constant"):
        text: str

        @classmethod
        def from_spec(cls, spec: Any) -> Constant:
            return cls(str(spec))

        def resolve(self, context: vs.SourceContext) -> vs.SecretValue:
            return vs.checked_value(self.text)

        def __str__(self) -> str:
            return "a constant"

    assert vs.registered_sources()["constant"] is Constant
    schema = manifest_schema()
    assert vs.schema_disagreements(schema) == [
        "value source 'constant' is registered but has no fragment in the schema"
    ]
    with_fragment = copy.deepcopy(schema)
    with_fragment["$defs"]["valueSource"]["properties"]["constant"] = {"type": "string"}
    assert vs.schema_disagreements(with_fragment) == []


def test_a_key_is_registered_once() -> None:
    with pytest.raises(ValueError, match="'env' is registered twice"):

        class Again(vs.ValueSource, key="env"):  # pragma: no cover - refused at definition
            pass

    assert vs.registered_sources()["env"] is vs.EnvironmentVariable


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ({"env": "DB_PASSWORD"}, "environment variable DB_PASSWORD"),
        ({"file": "values/tls.key"}, "file values/tls.key"),
        ({"generate": {"length": 32}}, "generated (32 alphanumeric characters)"),
        ({"generate": {"length": 40, "alphabet": "hex"}}, "generated (40 hex characters)"),
        ({"literal": CANARY}, "a literal (not sensitive)"),
    ],
)
def test_sources_name_themselves_without_their_value(spec: dict[str, Any], shown: str) -> None:
    ((key, raw),) = spec.items()
    source = vs.registered_sources()[key].from_spec(raw)
    assert str(source) == shown
    assert CANARY not in repr(source)


def test_environment_variable(tmp_path: Path) -> None:
    source = vs.EnvironmentVariable("S")
    assert source.resolve(context(tmp_path, S=CANARY)).reveal() == CANARY
    with pytest.raises(vs.SourceProblem, match=r"^environment variable S is not set$"):
        source.resolve(context(tmp_path))
    with pytest.raises(vs.SourceProblem, match=r"^the value is empty$"):
        source.resolve(context(tmp_path, S=""))
    with pytest.raises(vs.SourceProblem) as caught:
        source.resolve(context(tmp_path, S="é" * 13_000))
    assert str(caught.value) == "the value is 26,000 bytes; Key Vault allows at most 25,600"


def test_value_file_reads_exact_bytes_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "v.txt").write_bytes(CANARY.encode() + b"\n")
    value = vs.ValueFile("values/v.txt").resolve(context(tmp_path))
    assert isinstance(value, vs.SecretValue) and value.reveal() == CANARY + "\n"


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.txt", None, "not found"),
        ("sub", lambda p: p.mkdir(), "is a directory"),
        ("latin1.txt", lambda p: p.write_bytes(b"caf\xe9"), "is not UTF-8 text (byte offset 3)"),
        ("empty.txt", lambda p: p.write_bytes(b""), "the value is empty"),
        ("big.txt", lambda p: p.write_text("x" * 30_000), "30,000 bytes; Key Vault allows"),
        ("../outside.txt", lambda p: p.write_text(CANARY), "resolves outside the manifests'"),
        ("link.txt", lambda p: p.symlink_to("/etc/hostname"), "resolves outside the manifests'"),
    ],
)
def test_value_file_problems(tmp_path: Path, name: str, make: Any, message: str) -> None:
    base = tmp_path / "manifests"
    base.mkdir()
    if make is not None:
        make(base / name)
    with pytest.raises(vs.SourceProblem) as caught:
        vs.ValueFile(name).resolve(context(base))
    assert message in str(caught.value)
    assert CANARY not in str(caught.value)


def test_generated_gives_its_generator_and_no_value(tmp_path: Path) -> None:
    source = vs.Generated.from_spec({"length": 20, "alphabet": "digits"})
    assert source.resolve(context(tmp_path)) == vs.Generator(20, "digits")
    with pytest.raises(ValueError, match="no such generator"):
        vs.Generator(20, "emoji")


def test_literal_only_where_not_sensitive(tmp_path: Path) -> None:
    source = vs.LiteralValue.from_spec(CANARY)
    with pytest.raises(vs.SourceProblem) as caught:
        source.resolve(context(tmp_path))
    assert str(caught.value) == (
        "a literal value is refused unless the entry says 'sensitive: false'; "
        "take secret values from env, file or generate"
    )
    assert source.resolve(context(tmp_path, sensitive=False)).reveal() == CANARY


def test_a_value_file_in_another_encoding_leaves_no_byte_of_it_in_the_error(
    tmp_path: Path,
) -> None:
    """The codec's own error holds the file's bytes; it must not be the problem's context."""
    (tmp_path / "v.txt").write_bytes(CANARY.encode() + b"\xe9")
    with pytest.raises(vs.SourceProblem) as caught:
        vs.ValueFile("v.txt").resolve(context(tmp_path))
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert CANARY not in repr(caught.value.args)
