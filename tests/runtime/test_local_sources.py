"""Local development sources and the store without a vault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from orgsecrets import (
    AsyncSecretStore,
    ConfigurationError,
    HealthStatus,
    SecretNotFoundError,
    SecretStore,
    StoreConfig,
)
from orgsecrets.local_sources import (
    DotenvSource,
    EnvironmentSource,
    LocalSettingsSource,
    LocalSources,
)
from orgsecrets.naming import secret_name


def test_dotenv_syntax(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n"
        "\n"
        "GLOBAL__A=plain value # trailing comment\n"
        "export GLOBAL__B='single # kept'\n"
        'GLOBAL__C="line1\\nline2 \\"q\\""\n'
        'GLOBAL__D="multi\nline"\n'
        "GLOBAL__E=\n"
        "GLOBAL__A=overridden\n"
    )
    source = DotenvSource(path)
    assert source.lookup(secret_name("a")) == "overridden"
    assert source.lookup(secret_name("b")) == "single # kept"
    assert source.lookup(secret_name("c")) == 'line1\nline2 "q"'
    assert source.lookup(secret_name("d")) == "multi\nline"
    assert source.lookup(secret_name("e")) == ""
    assert {n.vault_name for n in source.names()} == {f"GLOBAL--{k}" for k in "abcde"}


def test_dotenv_errors_name_the_line_not_the_content(
    tmp_path: Path, secret_value: Callable[[str], str], assert_no_leak: Any
) -> None:
    value = secret_value("dotenv")
    path = tmp_path / ".env"
    path.write_text(f"GLOBAL__OK=1\n{value}\n")
    with pytest.raises(ConfigurationError, match=r"\.env:2: expected KEY=value") as caught:
        DotenvSource(path).lookup(secret_name("ok"))
    assert_no_leak(caught.value)
    path.write_text(f'GLOBAL__X="{value}\n')
    with pytest.raises(ConfigurationError, match="never closed") as caught:
        DotenvSource(path).lookup(secret_name("x"))
    assert_no_leak(caught.value)


def test_local_settings(
    tmp_path: Path, secret_value: Callable[[str], str], assert_no_leak: Any
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"CONTOSO__DB": "v"}}))
    assert LocalSettingsSource(path).lookup(secret_name("db", "contoso")) == "v"
    path.write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(ConfigurationError, match="func settings decrypt"):
        LocalSettingsSource(path).lookup(secret_name("db"))
    value = secret_value("json")
    path.write_text('{"Values": {"A": "' + value + '",}}')
    with pytest.raises(ConfigurationError, match="not valid JSON") as caught:
        LocalSettingsSource(path).lookup(secret_name("db"))
    assert_no_leak(caught.value)
    path.write_text(json.dumps({"Values": {"GLOBAL__N": 3}}))
    with pytest.raises(ConfigurationError, match=r"Values\.GLOBAL__N must be a string"):
        LocalSettingsSource(path).lookup(secret_name("n"))


def test_missing_files_are_skipped(tmp_path: Path) -> None:
    source = DotenvSource(tmp_path / "nope.env")
    assert source.lookup(secret_name("x")) is None and "missing" in source.description


def test_order_environment_then_dotenv_then_local_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GLOBAL__A=dotenv\nGLOBAL__B=dotenv\n")
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"GLOBAL__A": "json", "GLOBAL__B": "json", "GLOBAL__C": "json"}})
    )
    sources = LocalSources.default(
        environ={"GLOBAL__A": "env"},
        dotenv_path=tmp_path / ".env",
        local_settings_path=tmp_path / "local.settings.json",
    )
    assert sources.lookup(secret_name("a")) == ("env", "environment variables")
    assert sources.lookup(secret_name("b"))[0] == "dotenv"  # type: ignore[index]
    assert sources.lookup(secret_name("c"))[0] == "json"  # type: ignore[index]
    assert sources.lookup(secret_name("d")) is None
    assert EnvironmentSource({"PATH": "/bin"}).lookup(secret_name("path")) is None


def local_config(tmp_path: Path, **kw: Any) -> StoreConfig:
    return StoreConfig(
        dotenv_path=tmp_path / ".env",
        local_settings_path=tmp_path / "local.settings.json",
        **kw,
    )


def test_store_without_vault_reads_each_source(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    secret_value: Callable[[str], str],
    assert_no_leak: Any,
) -> None:
    env_v, dotenv_v, json_v = secret_value("env"), secret_value("dotenv"), secret_value("json")
    monkeypatch.setenv("CONTOSO__FROM_ENV", env_v)
    (tmp_path / ".env").write_text(f"GLOBAL__FROM_DOTENV={dotenv_v}\n")
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"IsEncrypted": False, "Values": {"CONTOSO__FROM_JSON": json_v}})
    )
    with SecretStore(local_config(tmp_path)) as store:
        assert store.get("from-env", org="contoso") == env_v
        assert store.get("from-dotenv", org="contoso") == dotenv_v  # GLOBAL fallback
        assert store.get("from-dotenv") == dotenv_v
        assert store.get("from-json", org="contoso") == json_v
        with pytest.raises(SecretNotFoundError) as caught:
            store.get("from-json")
        message = str(caught.value)
        assert "GLOBAL--from-json" in message and "GLOBAL__FROM_JSON" in message
        assert ".env" in message and "local.settings.json" in message
        assert_no_leak(caught.value)
        assert isinstance(caught.value, KeyError)
        report = store.health()
        assert report.ok and report.status is HealthStatus.LOCAL_ONLY
        result = store.prefetch("contoso")
        assert set(result.loaded) | set(result.already_cached) >= {
            "contoso--from-env",
            "GLOBAL--from-dotenv",
            "contoso--from-json",
        }
        assert env_v not in repr(store) and env_v not in repr(result)


def test_async_store_without_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret_value: Callable[[str], str]
) -> None:
    value = secret_value("aenv")
    monkeypatch.setenv("GLOBAL__SHARED", value)

    async def main() -> None:
        async with AsyncSecretStore(local_config(tmp_path)) as store:
            assert await store.get("shared", org="contoso") == value
            with pytest.raises(SecretNotFoundError):
                await store.get("absent", org="contoso")
            assert (await store.health()).status is HealthStatus.LOCAL_ONLY
            assert (await store.prefetch("contoso")).failed == ()

    asyncio.run(main())


def test_invalid_names_fail_before_any_lookup(tmp_path: Path) -> None:
    calls = []
    store = SecretStore(local_config(tmp_path))
    store._core.local.lookup = lambda name: calls.append(name)  # type: ignore[method-assign,union-attr,func-returns-value]
    for bad in ({"name": "a_b"}, {"name": "x", "org": "GLOBAL"}, {"name": "x", "org": "a--b"}):
        with pytest.raises(ValueError):
            store.get(**bad)  # type: ignore[arg-type]
    assert calls == []


def test_memo_follows_invalidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    monkeypatch.setenv("GLOBAL__ROT", "one")
    store = SecretStore(local_config(tmp_path), clock=clock)
    assert store.get("rot", org="contoso") == "one"
    monkeypatch.setenv("GLOBAL__ROT", "two")
    assert store.get("rot", org="contoso") == "one"
    store.invalidate("rot")
    assert store.get("rot", org="contoso") == "two"
    monkeypatch.setenv("CONTOSO__ROT", "org")
    clock.advance(31)  # the negative entry of contoso--rot expires: the memo follows it
    assert store.get("rot", org="contoso") == "org"
