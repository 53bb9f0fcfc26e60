"""Shared command-line conventions for the scripts in ``scripts/``.

Every command gets the same options and the same error path::

    parser = cli.parser("provision", "Converge a Key Vault ...", examples=[...])
    parser.add_argument(...)                    # the command's own options
    return cli.run(parser, main, argv)          # main(args, out) -> exit code

Common options: ``--output {text,json}``, ``--plan`` (dry run; detailed exit
code 2 when changes are pending), ``-q/--quiet`` and ``-v/--verbose``
(logging level; repeat ``-v`` for DEBUG). Colour is used on a terminal
(unless ``TERM=dumb``), or anywhere when forced with ``FORCE_COLOR``
(https://force-color.org) or ``CLICOLOR_FORCE`` (https://bixense.com/clicolors),
say for a CI log that renders ANSI; never when ``NO_COLOR`` is set
(https://no-color.org), which wins over both. JSON output is never coloured.

Errors: :class:`~keyvault_platform.core.yaml_source.InputError` prints each problem as
``file:line:col: message``; :class:`~keyvault_platform.core.errors.ActionableError` prints
its message and hint; Azure SDK errors print their status and code; any
other exception prints its type and message. All exit 1. With
``--output json`` the same errors are also written as ``diagnostic`` lines
on stdout, so a pipeline parsing JSON sees them.

Secret values are never logged: SDK clients are built without
``logging_enable`` (see :mod:`keyvault_platform.target.base`), and our own log calls name
secrets, never their values.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from keyvault_platform.core import messages, views
from keyvault_platform.core import plan as plans
from keyvault_platform.core.errors import InputError, ToolError
from keyvault_platform.core.problems import Location
from keyvault_platform.target.failures import Kind, Plane, classify, first_line, hint

log = logging.getLogger(__name__)

EXIT_ERROR = plans.EXIT_ERROR
EXIT_INTERRUPTED = 130


def use_color(stream: IO[str]) -> bool:
    """Whether to colour what goes to ``stream``.

    In order: ``NO_COLOR`` set to anything but "" turns colour off; then
    ``FORCE_COLOR`` set to anything but "" (its value is not read, as
    force-color.org asks) or ``CLICOLOR_FORCE`` set to anything but "" and
    "0" turns it on, even off a terminal or with ``TERM=dumb``; otherwise
    colour only on a terminal that is not ``TERM=dumb``.
    """
    if os.environ.get("NO_COLOR", "") != "":
        return False
    forced = os.environ.get("FORCE_COLOR", "") != ""
    clicolor_forced = os.environ.get("CLICOLOR_FORCE", "") not in ("", "0")
    if forced or clicolor_forced:
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def parser(
    prog: str,
    description: str,
    *,
    examples: Sequence[tuple[str, str]] = (),
    plan_flag: bool = True,
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    """An argument parser with the common options and an examples epilog.

    ``examples`` are (command line, what it does) pairs shown by ``--help``.
    With ``subcommands``, the parser is added there as the subcommand
    ``prog`` (``keyvault-platform sync ...``); otherwise it stands alone.
    """
    epilog = None
    if examples:
        width = max(len(cmd) for cmd, _ in examples)
        body = "\n".join(f"  {cmd.ljust(width)}  # {what}" for cmd, what in examples)
        epilog = f"examples:\n{body}\n\nexit codes: 0 ok or nothing to do, 1 error"
        if plan_flag:
            epilog += ", 2 changes pending (with --plan)"
        epilog += ", 130 interrupted (Ctrl-C)"
    options: dict[str, Any] = {
        "description": description,
        "epilog": epilog,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    if subcommands is not None:
        result = subcommands.add_parser(prog, help=description.splitlines()[0], **options)
    else:
        result = argparse.ArgumentParser(prog=prog, **options)
    result.add_argument(
        "--output",
        choices=("text", "json", "markdown") if plan_flag else ("text", "json"),
        default="text",
        help="text for people (default) or JSON lines for pipelines"
        + ("; markdown (with --plan): the plan fenced, for a job summary" if plan_flag else ""),
    )
    if plan_flag:
        result.add_argument(
            "--plan",
            action="store_true",
            help="show what would change and stop; exit 2 if changes are pending",
        )
    noise = result.add_mutually_exclusive_group()
    noise.add_argument(
        "-q", "--quiet", action="store_true", help="only errors on stderr (plan still printed)"
    )
    noise.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)"
    )
    return result


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum`` (argparse names the option)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def add_environment_option(parser: argparse.ArgumentParser) -> None:
    """``--env NAME_OR_PATH``: the environment a command acts on (default ``local``)."""
    parser.add_argument(
        "--env",
        default="local",
        help="environment name (environments/<env>.yaml, else infra/environments/<env>.yaml) "
        "or a path (default: local)",
    )


def add_emulator_options(parser: argparse.ArgumentParser, *, identity: str) -> None:
    """``--state-dir`` and ``--identity``, which only an emulator target reads.

    ``identity`` ends the ``--identity`` help: who the command acts as.
    """
    emulator = parser.add_argument_group("emulator target only")
    emulator.add_argument("--state-dir", type=Path, help="the emulator's state directory")
    emulator.add_argument("--identity", help=f"the emulator identity {identity}")


@contextlib.contextmanager
def configured_logging(args: argparse.Namespace, *, stream: TextIO | None = None) -> Iterator[None]:
    """Log to stderr: WARNING by default, ERROR with -q, INFO with -v, DEBUG with -vv.

    Azure SDK loggers stay at WARNING unless -vv; even then request and
    response bodies are not logged because no client enables
    ``logging_enable``. azure-identity's own warnings (the credential
    chain's every failed attempt, a dozen lines when nobody is signed in)
    show only from -v: the command's error already says what failed, with
    the sign-in hint. Levels and handlers are put back on exit, so a
    command run in-process (tests, the demo) leaves logging as it found it.
    """
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif getattr(args, "verbose", 0) >= 2:
        level = logging.DEBUG
    elif getattr(args, "verbose", 0) == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    azure = logging.getLogger("azure")
    identity = logging.getLogger("azure.identity")
    saved_levels = (root.level, azure.level, identity.level)
    root.addHandler(handler)
    root.setLevel(level)
    azure.setLevel(logging.DEBUG if level == logging.DEBUG else logging.WARNING)
    identity.setLevel(logging.NOTSET if level <= logging.INFO else logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_levels[0])
        azure.setLevel(saved_levels[1])
        identity.setLevel(saved_levels[2])


@dataclass
class Output:
    """Where a command writes: results on ``out``, messages on ``err``."""

    out: TextIO
    err: TextIO
    format: str = "text"
    color: bool = False
    quiet: bool = False
    version_sent: bool = False
    stdin: TextIO | None = None  # where an apply asks for approval (a terminal, or nothing)

    @property
    def json(self) -> bool:
        return self.format == "json"

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        """A progress message for people: stderr in text mode, silent with -q or JSON."""
        if not self.quiet and not self.json:
            self.err.write(text + "\n")
            self.err.flush()

    def json_line(self, text: str) -> None:
        """Write one line built by :mod:`keyvault_platform.core.messages`; ``version`` first."""
        if not self.version_sent:
            self.out.write(messages.version() + "\n")
            self.version_sent = True
        self.out.write(text + "\n")
        self.out.flush()

    def plan(self, plan: plans.Plan) -> None:
        """Render ``plan`` in the chosen format."""
        if self.json:
            for text in messages.render_json_lines(plan, include_version=False):
                self.json_line(text)
        elif self.format == "markdown":
            self.out.write(views.render_markdown(plan))
            self.out.flush()
        else:
            self.out.write(views.render_text(plan, color=self.color))
            self.out.flush()


Main = Callable[[argparse.Namespace, Output], int]


def run(
    argparser: argparse.ArgumentParser,
    main: Main,
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Parse ``argv``, set up logging and output, call ``main``; map errors to exit 1."""
    return run_parsed(argparser.parse_args(argv), main, stdout=stdout, stderr=stderr)


def run_parsed(
    args: argparse.Namespace,
    main: Main,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Set up logging and output for parsed ``args``, call ``main``; map errors to exit 1."""
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    if args.output == "markdown" and not getattr(args, "plan", False):
        # Markdown renders a plan; what an apply prints is a log, not a document.
        err_stream.write("error: --output markdown renders a plan: use it with --plan\n")
        return EXIT_ERROR
    output = Output(
        out=out_stream,
        err=err_stream,
        format=args.output,
        color=use_color(out_stream),
        quiet=bool(getattr(args, "quiet", False)),
        stdin=sys.stdin if stdout is None else None,
    )
    with configured_logging(args, stream=err_stream):
        return _run_main(main, args, output)


def _run_main(main: Main, args: argparse.Namespace, output: Output) -> int:
    try:
        return main(args, output)
    except KeyboardInterrupt:
        report_error(output, "interrupted", detail=None)
        return EXIT_INTERRUPTED
    except BaseException as exc:  # one path for everything, by design
        if isinstance(exc, SystemExit):
            raise
        if isinstance(exc, InputError):  # located: JSON diagnostics carry file, line, column
            for problem in exc.problems:
                report_error(output, str(problem), detail=None, location=problem.location)
            return EXIT_ERROR
        for summary, detail, address in describe_exception(exc):
            report_error(output, summary, detail=detail, address=address)
        log.debug("traceback", exc_info=True)
        return EXIT_ERROR


def describe_exception(exc: BaseException) -> list[tuple[str, str | None, str | None]]:
    """(summary, detail, address) triples for an exception, without secret values.

    The tool's own errors say how they read (:meth:`ToolError.reports`);
    Azure SDK errors their status and code (with a hint for sign-in and
    network failures); anything else is named by its type.
    """
    if isinstance(exc, ToolError):
        return [(r.summary, r.detail, r.address) for r in exc.reports()]
    azure = _describe_azure_error(exc)
    if azure is not None:
        return [azure]
    return [(f"{type(exc).__name__}: {exc}", None, None)]


def _describe_azure_error(exc: BaseException) -> tuple[str, str | None, str | None] | None:
    """An Azure SDK error no layer worded: classified, with the table's hint for its kind."""
    failure = classify(exc)
    if failure.kind is Kind.OTHER:
        return None
    # No layer said which plane it was: a vault's own codes are unambiguous,
    # anything else reads as Resource Manager's.
    remedy = (
        hint(Plane.SIGN_IN, failure)
        if failure.kind is Kind.NOT_SIGNED_IN
        else hint(Plane.VAULT, failure)
        if failure.inner_code
        else hint(Plane.ARM, failure)
    )
    if failure.kind is Kind.NOT_SIGNED_IN:
        summary = "authentication failed: " + failure.message
    elif failure.status is not None:
        summary = f"Azure returned {failure.status}" + (f" {failure.code}" if failure.code else "")
        summary += f": {failure.message or first_line(exc)}"
    else:
        summary = "could not reach Azure: " + failure.message
    return (summary, f"hint: {remedy}" if remedy else None, None)

def report_error(
    output: Output,
    summary: str,
    *,
    detail: str | None,
    address: str | None = None,
    location: Location | None = None,
) -> None:
    """Print one error on stderr, and as a ``diagnostic`` line when output is JSON.

    ``location`` (an input's file and position) becomes the diagnostic's
    ``file``, ``line`` and ``column``; the summary already names it for people.
    """
    text = f"error: {summary}"
    if detail:
        text += "\n" + "\n".join(f"  {line}" for line in detail.splitlines())
    output.err.write(text + "\n")
    output.err.flush()
    if output.json:
        output.json_line(
            messages.diagnostic(
                plans.Diagnostic("error", summary, detail=detail, address=address),
                location=location,
            )
        )
