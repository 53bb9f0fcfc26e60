"""Command-line conventions: options, colour, the one error path."""

from __future__ import annotations

import io
import json

import pytest
from azure.core.exceptions import HttpResponseError
from keyvault_platform.cli import conventions as cli
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import Action, Change, Plan
from keyvault_platform.core.yaml_source import InputError, Location, Problem


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def make_parser():
    return cli.parser(
        "demo", "A demo command.", examples=[("demo --plan", "show what would change")]
    )


def run(main, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(make_parser(), main, list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_help_has_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        make_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "demo --plan" in text
    assert "2 changes pending" in text
    for option in ("--output", "--plan", "--quiet", "--verbose"):
        assert option in text


def test_quiet_and_verbose_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        make_parser().parse_args(["-q", "-v"])


def test_colour_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "TERM", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.use_color(Tty())
    assert not cli.use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_color(Tty())
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TERM", "dumb")
    assert not cli.use_color(Tty())


@pytest.mark.parametrize(
    ("variables", "tty", "expected"),
    [
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "0"}, False, True),  # force-color.org: any non-empty value
        ({"FORCE_COLOR": ""}, False, False),
        ({"CLICOLOR_FORCE": "1"}, False, True),
        ({"CLICOLOR_FORCE": "0"}, False, False),
        ({"CLICOLOR_FORCE": ""}, False, False),
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, False, True),
        ({"CLICOLOR_FORCE": "1", "TERM": "dumb"}, True, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ({"CLICOLOR_FORCE": "1", "NO_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": ""}, False, True),
        ({"CLICOLOR_FORCE": "0", "TERM": "xterm"}, True, True),
    ],
)
def test_forced_colour(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], tty: bool, expected: bool
) -> None:
    for name in ("NO_COLOR", "TERM", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert cli.use_color(Tty() if tty else io.StringIO()) is expected


def test_forced_colour_reaches_the_rendered_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "TERM", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    plan = Plan((Change("vault.kv-demo", Action.CREATE),))

    def main(args, output):
        output.plan(plan)
        return 0

    monkeypatch.setenv("FORCE_COLOR", "1")
    code, out, _ = run(main)
    assert code == 0 and "\x1b[" in out
    code, out, _ = run(main, "--output", "json")
    assert "\x1b[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = run(main)
    assert "\x1b[" not in out


def test_input_errors_print_positions_and_exit_1() -> None:
    def main(args, output):
        raise InputError([Problem(Location("env.yaml", 3, 7), "vault/name: too short")])

    code, out, err = run(main)
    assert code == 1
    assert "error: env.yaml:3:7: vault/name: too short" in err
    assert out == ""


def test_actionable_errors_print_hint_and_json_diagnostic() -> None:
    def main(args, output):
        raise ActionableError("no rights", hint="ask for Owner", address="vault.kv")

    code, out, err = run(main, "--output", "json")
    assert code == 1
    assert "error: no rights" in err and "hint: ask for Owner" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["type"] == "version"
    assert lines[1]["type"] == "diagnostic"
    assert lines[1]["diagnostic"]["address"] == "vault.kv"


def test_azure_and_unexpected_errors_exit_1() -> None:
    def azure(args, output):
        raise HttpResponseError(message="boom")

    def bug(args, output):
        raise RuntimeError("unexpected")

    assert run(azure)[0] == 1
    code, _, err = run(bug)
    assert code == 1 and "RuntimeError: unexpected" in err


def test_main_return_code_and_plan_output() -> None:
    def main(args, output):
        output.plan(Plan((Change("vault.kv", Action.CREATE),)))
        return 2 if args.plan else 0

    code, out, _ = run(main, "--plan")
    assert code == 2 and "Plan: 1 to add, 0 to change, 0 to destroy." in out
    code, out, _ = run(main, "--output", "json")
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert code == 0 and types == ["version", "planned_change", "change_summary"]


def test_a_run_leaves_logging_as_it_found_it() -> None:
    import logging

    root, azure = logging.getLogger(), logging.getLogger("azure")
    before = (root.level, azure.level, list(root.handlers))

    def noisy(args, output) -> int:
        logging.getLogger("infra.test").debug("inside the command")
        assert root.level == logging.DEBUG
        return 0

    assert run(noisy, "-vv")[0] == 0
    assert run(lambda args, output: 1 // 0, "-vv")[0] == 1
    assert (root.level, azure.level, list(root.handlers)) == before


def test_the_credential_chains_warnings_show_only_when_asked() -> None:
    """Not signed in, DefaultAzureCredential warns once per credential it tried; the
    command's own error says what failed, so those lines wait for -v."""
    import logging

    identity = logging.getLogger("azure.identity._credentials.default")
    before = logging.getLogger("azure.identity").level

    def signs_in(args, output) -> int:
        identity.warning("DefaultAzureCredential failed to retrieve a token (chain line)")
        logging.getLogger("keyvault_platform.test").warning("our own warning")
        return 0

    _, _, err = run(signs_in)
    assert "chain line" not in err and "our own warning" in err
    _, _, err = run(signs_in, "-v")
    assert "chain line" in err
    assert logging.getLogger("azure.identity").level == before
