"""``keyvault-platform``: the one command, with a subcommand for each job.

::

    keyvault-platform [--chdir DIR] COMMAND [options]

    validate    check environment files and manifests offline (no credentials, no network)
    provision   plan, apply and verify an environment's vault and role assignments
    sync        make a vault's secrets match the manifests (never reads values)
    schema      print a JSON Schema for editors (manifests, or environment files)
    init        create a new config repository that works at once on the emulator
    import      write manifests for what a vault holds (names and metadata, never values)
    emulator    run the local Azure emulator (``serve``, ``env``, ``audit``)

``--chdir DIR`` works like Terraform's ``-chdir``: it is applied before
anything else, so every relative path, on the command line and in the files,
is taken from ``DIR`` (see :mod:`keyvault_platform.config.root`). The working
directory is put back afterwards, so running a command in-process leaves the
caller where it was.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from keyvault_platform import __version__
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli import import_vault, init, provision, schema, sync, validate

PROG = "keyvault-platform"

EXAMPLES = """\
examples:
  keyvault-platform init my-secrets-config           a config repository that works at once
  keyvault-platform validate                         every environment and manifest, offline
  keyvault-platform provision --env local --plan     what provisioning would change (exit 2 if any)
  keyvault-platform sync --env prod --output json    sync, with JSON lines for a pipeline
  keyvault-platform --chdir ../config sync --plan    run in another config directory
  keyvault-platform emulator serve                   the local Azure emulator, in the foreground

Run `keyvault-platform COMMAND --help` for a command's options and exit codes.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Provision Azure Key Vaults and sync secret manifests into them: "
        "plan, then apply.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--chdir",
        metavar="DIR",
        type=Path,
        help="the config directory to run in (default: the working directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    validate.build_parser(commands).set_defaults(main=validate.main)
    provision.build_parser(commands).set_defaults(main=provision.main)
    sync.build_parser(commands).set_defaults(main=sync.main)
    schema.build_parser(commands).set_defaults(main=schema.main)
    init.build_parser(commands).set_defaults(main=init.main)
    import_vault.build_parser(commands).set_defaults(main=import_vault.main)
    # Parsed by the emulator's own command line; listed here for --help.
    commands.add_parser(
        "emulator",
        help="Run the local Azure emulator: serve, env, audit, identity, clock, config "
        "(`keyvault-platform emulator --help`).",
        add_help=False,
    )
    return parser


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    chdir, rest = _split_chdir(arguments)
    if rest[:1] == ["emulator"]:
        return _run_emulator(chdir, rest[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    err = stderr or sys.stderr
    try:
        directory = _config_directory(args.chdir)
    except NotADirectoryError as exc:
        err.write(f"error: {exc}\n")
        return cli.EXIT_ERROR
    with contextlib.chdir(directory):
        return cli.run_parsed(args, args.main, stdout=stdout, stderr=stderr)


def _split_chdir(arguments: list[str]) -> tuple[str | None, list[str]]:
    """``--chdir DIR`` (or ``--chdir=DIR``) before the command, and what follows it."""
    chdir: str | None = None
    index = 0
    while index < len(arguments):
        token = arguments[index]
        if token == "--chdir" and index + 1 < len(arguments):
            chdir = arguments[index + 1]
            index += 2
        elif token.startswith("--chdir="):
            chdir = token.split("=", 1)[1]
            index += 1
        else:
            break
    return chdir, arguments[index:]


def _config_directory(chdir: str | Path | None) -> Path:
    directory = Path.cwd() if chdir is None else Path(chdir).expanduser()
    if not directory.is_dir():
        raise NotADirectoryError(
            f"--chdir {chdir}: no such directory (it should hold environments/ and secrets/; "
            "`keyvault-platform init DIR` creates one)"
        )
    return directory


def _run_emulator(chdir: str | None, arguments: list[str]) -> int:
    from keyvault_emulator.__main__ import main as emulator_main

    try:
        directory = _config_directory(chdir)
    except NotADirectoryError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return cli.EXIT_ERROR
    with contextlib.chdir(directory):
        try:
            return emulator_main(arguments, prog=f"{PROG} emulator")
        except KeyboardInterrupt:
            return cli.EXIT_INTERRUPTED


def main() -> None:
    """The console script's entry point."""
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
