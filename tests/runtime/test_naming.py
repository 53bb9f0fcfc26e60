"""The naming rule: org and GLOBAL names, validation, the env-var mapping."""

from __future__ import annotations

import pytest
from orgsecrets.naming import (
    GLOBAL_SCOPE,
    MAX_SECRET_NAME_LENGTH,
    InvalidSecretNameError,
    SecretName,
    env_var_name,
    global_secret_name,
    is_global_secret_name,
    lookup_names,
    org_secret_name,
    parse_env_var_name,
    parse_secret_name,
    secret_name,
    validate_org_id,
)


def test_org_then_global() -> None:
    assert [n.vault_name for n in lookup_names("db-password", "contoso")] == [
        "contoso--db-password",
        "GLOBAL--db-password",
    ]
    assert [n.vault_name for n in lookup_names("db-password")] == ["GLOBAL--db-password"]


def test_helpers_agree() -> None:
    assert org_secret_name("contoso", "smtp") == "contoso--smtp"
    assert global_secret_name("smtp") == "GLOBAL--smtp"
    assert secret_name("smtp", "contoso") == SecretName("contoso", "smtp")
    assert str(secret_name("smtp")) == "GLOBAL--smtp"
    assert secret_name("smtp").is_global and not secret_name("smtp", "a").is_global


@pytest.mark.parametrize(
    ("org", "fragment"),
    [
        ("", "empty"),
        ("con_toso", "only letters"),
        ("con toso", "only letters"),
        ("a--b", "must not contain '--'"),
        ("-a", "start or end"),
        ("a-", "start or end"),
        ("GLOBAL", "reserved"),
        ("global", "reserved"),
        ("Global", "reserved"),
    ],
)
def test_bad_org_ids(org: str, fragment: str) -> None:
    with pytest.raises(InvalidSecretNameError, match=fragment):
        validate_org_id(org)
    with pytest.raises(ValueError):
        lookup_names("x", org)


@pytest.mark.parametrize("name", ["", "a_b", "a.b", "a b", "é"])
def test_bad_short_names(name: str) -> None:
    with pytest.raises(InvalidSecretNameError):
        secret_name(name, "contoso")


def test_non_str_is_rejected() -> None:
    with pytest.raises(InvalidSecretNameError, match="must be a str"):
        secret_name(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidSecretNameError, match="must be a str"):
        validate_org_id(None)  # type: ignore[arg-type]


def test_length_limit_counts_the_whole_name() -> None:
    org = "o" * 10
    ok = "n" * (MAX_SECRET_NAME_LENGTH - len(org) - 2)
    assert len(org_secret_name(org, ok)) == MAX_SECRET_NAME_LENGTH
    with pytest.raises(InvalidSecretNameError, match="at most 127"):
        org_secret_name(org, ok + "n")
    with pytest.raises(InvalidSecretNameError, match="at most 127"):
        global_secret_name("g" * (MAX_SECRET_NAME_LENGTH - len(GLOBAL_SCOPE) - 1))


def test_parse_round_trips_and_normalises_global() -> None:
    assert parse_secret_name("contoso--db-password") == SecretName("contoso", "db-password")
    assert parse_secret_name("global--smtp") == SecretName("GLOBAL", "smtp")
    assert parse_secret_name("contoso---x") == SecretName("contoso", "-x")
    assert parse_secret_name("a--b--c") == SecretName("a", "b--c")
    for bad in ("nodashes", "--x", "a--", "a_b--c"):
        with pytest.raises(InvalidSecretNameError):
            parse_secret_name(bad)
    assert is_global_secret_name("Global--x") and not is_global_secret_name("GLOBALx--y")


def test_env_var_mapping() -> None:
    assert env_var_name("db-password", "contoso") == "CONTOSO__DB_PASSWORD"
    assert env_var_name("db-password") == "GLOBAL__DB_PASSWORD"
    assert env_var_name("x", "my-org") == "MY_ORG__X"
    assert secret_name("a--b", "o").env_var == "O__A__B"


def test_env_var_parse_is_the_inverse_up_to_case() -> None:
    assert parse_env_var_name("CONTOSO__DB_PASSWORD") == SecretName("contoso", "db-password")
    assert parse_env_var_name("GLOBAL__SMTP") == SecretName("GLOBAL", "smtp")
    assert parse_env_var_name("MY_ORG__X") == SecretName("my-org", "x")
    for other in ("PATH", "HOME", "lower__case", "__X", "X__", "A-B__C"):
        assert parse_env_var_name(other) is None
    for name in (secret_name("db-password", "contoso"), secret_name("smtp")):
        assert parse_env_var_name(name.env_var) == name
