"""``keyvault-platform import``: write manifests for what a vault already holds.

The first step of adopting a vault made by hand (docs/adoption.md): one
listing of the vault's secrets (names, content types, tags, enabled, dates;
no value read, so Key Vault Reader is enough) becomes one manifest per scope
(:mod:`keyvault_platform.sync.vault_manifests`). Nothing is written when a
target file exists (unless ``--force``) or a ``--generate`` name is not in
the vault.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyvault_platform.cli import conventions as cli
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core import plan as plans
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.yaml_source import InputError, Location, Problem
from keyvault_platform.sync.vault_manifests import manifests_from_vault
from keyvault_platform.sync.vault_state import list_secrets

EXAMPLES = [
    (
        "keyvault-platform import --env prod --out secrets",
        "a manifest per scope for what prod's vault holds",
    ),
    (
        "keyvault-platform import --env prod --out secrets --generate GLOBAL--session-signing-key",
        "declare that secret as generated (adoption keeps its value)",
    ),
]


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "import" if subcommands is not None else "keyvault-platform import",
        "Write manifests for the secrets a vault holds: names and metadata, never values.\n"
        "Each value becomes an env: source named {ORG}__{KEY}; adopt them with sync --adopt.",
        examples=EXAMPLES,
        plan_flag=False,
        subcommands=subcommands,
    )
    cli.add_environment_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="where to write the manifests (made if missing)",
    )
    parser.add_argument(
        "--generate",
        action="append",
        default=[],
        metavar="NAME",
        help="declare this secret (full vault name) as generated instead of env (repeatable)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite manifests that exist")
    cli.add_emulator_options(parser, identity="the listing uses (default: the file's, or sync)")
    return parser


def main(
    args: argparse.Namespace, out: cli.Output, *, client_factory: Callable[[], Any] | None = None
) -> int:
    env = load_environment(args.env)
    target = env.target(state_dir=args.state_dir)
    try:
        if client_factory is not None:
            client = client_factory()
        else:
            identity = args.identity or env.sync.identity or "sync"
            vault_url = target.vault_url(env.vault.name, resource_group=env.resource_group.name)
            client = target.secret_client(vault_url, identity=identity)
        try:
            secrets, _ = list_secrets(client)
        finally:
            client.close()
    finally:
        target.close()
    written = manifests_from_vault(secrets.values(), vault=env.vault.name, generated=args.generate)
    missing = sorted({n for n in args.generate if n.lower() not in secrets})
    if missing:
        raise InputError(
            [Problem(Location("--generate"), f"'{n}' is not in the vault") for n in missing]
        )
    directory: Path = args.out
    existing = [name for name in written.files if (directory / name).exists()]
    if existing and not args.force:
        raise ActionableError(
            f"not writing: {', '.join(existing)} already exist(s) in {directory}",
            hint="choose another --out, or --force to overwrite",
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in written.files.items():
        (directory / name).write_text(text, encoding="utf-8")
        out.line(f"  wrote {(directory / name).as_posix()}")
    out.line(
        f"{written.secrets:,} secret(s) in {len(written.files)} manifest(s); "
        f"{len(written.skipped)} set apart."
    )
    for skipped in written.skipped:
        out.line(f"  not in a manifest: {skipped.name}: {skipped.reason}")
    if written.variables:
        out.line("")
        out.line(f"Set these {len(written.variables)} variable(s) to the secrets' values, then")
        out.line(f"  keyvault-platform sync --env {args.env} --adopt --plan")
        for variable in written.variables:
            out.line(f"  {variable}")
    return plans.EXIT_OK
