"""``keyvault-platform init``: create a config repository that works at once.

The new directory validates, plans and applies on the local emulator as it
is (``make emulator`` in one terminal, ``make provision`` and ``make sync``
in another); see :mod:`keyvault_platform.scaffold` for what it holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keyvault_platform import scaffold
from keyvault_platform.cli import conventions as cli
from keyvault_platform.core import plan as plans

EXAMPLES = [
    ("keyvault-platform init secrets-config", "a new config repository in ./secrets-config"),
    ("keyvault-platform init . --org acme", "here, with a manifest for the org acme"),
    (
        "keyvault-platform init cfg --tool-spec 'keyvault-platform @ git+https://...'",
        "pipelines install the tool from a git URL",
    ),
]


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "init" if subcommands is not None else "keyvault-platform init",
        "Create a config repository: environments, manifests, Makefile, pipelines.\n"
        "It works at once on the local emulator.",
        examples=EXAMPLES,
        plan_flag=False,
        subcommands=subcommands,
    )
    parser.add_argument("directory", type=Path, help="where to create it (made if missing)")
    parser.add_argument(
        "--org",
        default=scaffold.DEFAULT_ORG,
        help=f"the org of the example org manifest (default: {scaffold.DEFAULT_ORG})",
    )
    parser.add_argument(
        "--tool-spec",
        metavar="REQUIREMENT",
        help="what pipelines install, written to tool-requirements.txt "
        f"(default: {scaffold.default_tool_spec()})",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    return parser


def main(args: argparse.Namespace, out: cli.Output) -> int:
    written = scaffold.scaffold(
        args.directory, org=args.org, tool_spec=args.tool_spec, force=args.force
    )
    for path in written:
        out.line(f"  created {path.relative_to(args.directory).as_posix()}")
    out.line("")
    out.line(f"Created a config repository in {args.directory} ({len(written)} files). Next:")
    out.line(f"  cd {args.directory}")
    out.line("  make validate     # offline")
    out.line("  make emulator     # in another terminal")
    out.line("  make provision && make sync")
    return plans.EXIT_OK
