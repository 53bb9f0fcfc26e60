"""One error hierarchy: every error written for the user is a ToolError and says how it reads."""

from __future__ import annotations

import pytest
from keyvault_platform.cli.conventions import describe_exception
from keyvault_platform.core import yaml_source
from keyvault_platform.core.errors import ActionableError, ErrorReport, InputError, ToolError
from keyvault_platform.core.yaml_source import Location, Problem
from keyvault_platform.provision.vault import AccessDenied
from keyvault_platform.sync.fingerprint import FingerprintKeyError


@pytest.mark.parametrize(
    "error",
    [InputError, ActionableError, AccessDenied, FingerprintKeyError],
    ids=lambda e: e.__name__,
)
def test_the_tools_errors_share_one_base(error: type[Exception]) -> None:
    assert issubclass(error, ToolError)


def test_input_error_is_importable_from_where_it_was() -> None:
    assert yaml_source.InputError is InputError


def test_fingerprint_key_error_is_still_a_value_error() -> None:
    assert issubclass(FingerprintKeyError, ValueError)


def test_input_error_reports_each_problem_in_file_order() -> None:
    later = Problem(Location("b.yaml", 1, 1), "second file")
    first = Problem(Location("a.yaml", 9, 2), "later line")
    earliest = Problem(Location("a.yaml", 3, 7), "first line")
    error = InputError([later, first, earliest])
    assert error.reports() == [
        ErrorReport("a.yaml:3:7: first line"),
        ErrorReport("a.yaml:9:2: later line"),
        ErrorReport("b.yaml:1:1: second file"),
    ]
    assert str(error) == "a.yaml:3:7: first line\na.yaml:9:2: later line\nb.yaml:1:1: second file"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            InputError([Problem(Location("env.yaml", 3, 7), "vault.name: too short")]),
            [("env.yaml:3:7: vault.name: too short", None, None)],
        ),
        (
            ActionableError("no rights", hint="ask for Owner", address="vault.kv"),
            [("no rights", "hint: ask for Owner", "vault.kv")],
        ),
        (ActionableError("plain"), [("plain", None, None)]),
        (
            AccessDenied("could not create vault kv: 403", hint="grant Contributor"),
            [("could not create vault kv: 403", "hint: grant Contributor", None)],
        ),
        (
            FingerprintKeyError("SYNC_FINGERPRINT_KEY is not set"),
            [("SYNC_FINGERPRINT_KEY is not set", None, None)],
        ),
        (KeyError("surprise"), [("KeyError: 'surprise'", None, None)]),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_describe_exception(
    error: Exception, expected: list[tuple[str, str | None, str | None]]
) -> None:
    assert describe_exception(error) == expected


def test_actionable_error_text_keeps_its_hint() -> None:
    assert (
        str(ActionableError("no rights", hint="ask for Owner"))
        == "no rights\n  hint: ask for Owner"
    )
