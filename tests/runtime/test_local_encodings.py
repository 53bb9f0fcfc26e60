"""Local files are decoded strictly; a bad encoding is a ConfigurationError that holds no content.

Every test writes a unique marker value and then looks for it, in every form
it could take (the text, its escaped repr, its bytes in each encoding), in
the error's str, repr and args and in its whole cause/context chain, and in
every log record.
"""

from __future__ import annotations

import codecs
import json
import logging
import uuid
from pathlib import Path

import pytest
from orgsecrets import ConfigurationError, OrgSecretsError, SecretStore, StoreConfig
from orgsecrets.local_sources import DotenvSource, LocalSettingsSource
from orgsecrets.naming import secret_name


def marker(label: str) -> str:
    """A value no other text contains, with a non-ASCII letter so encodings differ."""
    return f"mk-{label}-\u00e9\u00df-{uuid.uuid4().hex}"


def marker_forms(value: str) -> list[str]:
    """``value`` as it could appear in a message: raw, escaped, and as bytes of each encoding."""
    hex_part = value.rsplit("-", 1)[1]
    forms = [value, repr(value)[1:-1], ascii(value)[1:-1], hex_part, hex_part[:12]]
    for encoding in ("latin-1", "utf-8", "utf-16-le", "utf-16-be"):
        raw = value.encode(encoding)
        forms += [repr(raw)[2:-1], raw.hex(), repr(hex_part.encode(encoding))[2:-1]]
    return forms


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def assert_holds_no_content(
    exc: BaseException, value: str, records: list[logging.LogRecord]
) -> None:
    assert exc.__cause__ is None and exc.__context__ is None
    texts: list[str] = []
    for link in chain(exc):
        texts += [str(link), repr(link), repr(link.args), repr(vars(link))]
    for record in records:
        texts += [record.getMessage(), repr(record.args)]
    forms = marker_forms(value)
    for text in texts:
        for form in forms:
            assert form not in text, "file content leaked into the error or a log record"


def store_for(tmp_path: Path) -> SecretStore:
    return SecretStore(
        StoreConfig(
            environment_fallback=False,
            dotenv_path=tmp_path / ".env",
            local_settings_path=tmp_path / "local.settings.json",
        )
    )


def test_latin1_dotenv_is_a_configuration_error_naming_file_and_line(
    tmp_path: Path, debug_log_capture: logging.Handler
) -> None:
    value = marker("latin1")
    path = tmp_path / ".env"
    path.write_bytes(f"GLOBAL__OK=1\n# comment\nGLOBAL__PW={value}\n".encode("latin-1"))
    with pytest.raises(ConfigurationError) as caught:
        store_for(tmp_path).get("pw")
    assert isinstance(caught.value, OrgSecretsError)
    assert f"{path}:3:" in str(caught.value)
    assert "UTF-8" in str(caught.value)
    assert_holds_no_content(caught.value, value, debug_log_capture.records)  # type: ignore[attr-defined]


ENCODINGS = {
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-8-sig": lambda text: text.encode("utf-8-sig"),
    "utf-8": lambda text: text.encode("utf-8"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_utf8_and_utf16_with_bom_are_read(tmp_path: Path, encoding: str) -> None:
    encode = ENCODINGS[encoding]
    value = marker("ok")
    document = {"IsEncrypted": False, "Values": {"GLOBAL__PW": value}}
    path = tmp_path / "local.settings.json"
    path.write_bytes(encode(json.dumps(document, ensure_ascii=False)))
    assert LocalSettingsSource(path).lookup(secret_name("pw")) == value
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(encode(f"GLOBAL__PW={value}\r\n"))
    assert DotenvSource(dotenv).lookup(secret_name("pw")) == value


def test_powershell_utf16_local_settings_is_read(tmp_path: Path) -> None:
    # PowerShell 5's `>` writes UTF-16 LE with a BOM and CRLF line endings.
    value = marker("ps")
    text = json.dumps({"Values": {"GLOBAL__PW": value}}, indent=2).replace("\n", "\r\n")
    path = tmp_path / "local.settings.json"
    path.write_bytes(text.encode("utf-16"))
    assert store_for(tmp_path).get("pw") == value


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_refused_without_content(
    tmp_path: Path, encoding: str, debug_log_capture: logging.Handler
) -> None:
    value = marker("nobom")
    path = tmp_path / "local.settings.json"
    path.write_bytes(json.dumps({"Values": {"GLOBAL__PW": value}}).encode(encoding))
    with pytest.raises(ConfigurationError) as caught:
        store_for(tmp_path).get("pw")
    assert f"{path}:1:" in str(caught.value)
    assert_holds_no_content(caught.value, value, debug_log_capture.records)  # type: ignore[attr-defined]


def test_utf16_with_a_broken_surrogate_names_the_line(
    tmp_path: Path, debug_log_capture: logging.Handler
) -> None:
    value = marker("surrogate")
    good = f'{{\r\n  "Values": {{\r\n    "GLOBAL__PW": "{value}'.encode("utf-16-le")
    lone_high_surrogate = b"\x00\xd8"
    path = tmp_path / "local.settings.json"
    path.write_bytes(codecs.BOM_UTF16_LE + good + lone_high_surrogate + '"}}'.encode("utf-16-le"))
    with pytest.raises(ConfigurationError) as caught:
        LocalSettingsSource(path).lookup(secret_name("pw"))
    assert f"{path}:3:" in str(caught.value)
    assert "UTF-16" in str(caught.value)
    assert_holds_no_content(caught.value, value, debug_log_capture.records)  # type: ignore[attr-defined]


def test_invalid_json_error_has_no_context_holding_the_document(
    tmp_path: Path, debug_log_capture: logging.Handler
) -> None:
    # json.JSONDecodeError keeps the whole document in .doc: it must not be
    # reachable from the error, not even as __context__.
    value = marker("json")
    path = tmp_path / "local.settings.json"
    path.write_text(f'{{"Values": {{"GLOBAL__PW": "{value}",}}}}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid JSON") as caught:
        LocalSettingsSource(path).lookup(secret_name("pw"))
    assert_holds_no_content(caught.value, value, debug_log_capture.records)  # type: ignore[attr-defined]


@pytest.mark.parametrize("separator", ["\x0c", "\x85", "\u2028", "\u2029", "\x1c", "\x0b"])
def test_dotenv_splits_lines_only_on_newline(tmp_path: Path, separator: str) -> None:
    value = f"before{separator}after"
    path = tmp_path / ".env"
    path.write_bytes(f"GLOBAL__A={value}\r\nGLOBAL__B='{value}'\nGLOBAL__C=2\n".encode())
    source = DotenvSource(path)
    assert source.lookup(secret_name("a")) == value
    assert source.lookup(secret_name("b")) == value
    assert source.lookup(secret_name("c")) == "2"


def test_dotenv_error_line_counts_only_newlines(
    tmp_path: Path, debug_log_capture: logging.Handler
) -> None:
    value = marker("lineno")
    path = tmp_path / ".env"
    path.write_bytes(f"GLOBAL__A=x\u2028y\x0cz\r\nGLOBAL__B=1\n{value}\n".encode())
    with pytest.raises(ConfigurationError) as caught:
        DotenvSource(path).lookup(secret_name("a"))
    assert f"{path}:3: expected KEY=value" in str(caught.value)
    assert_holds_no_content(caught.value, value, debug_log_capture.records)  # type: ignore[attr-defined]
