"""``keyvault-platform schema``: the JSON Schemas, for editors and other tools.

Prints the packaged schema (YAML; JSON with ``--format json``), or writes it
to a file so a config repository can point its manifests at it::

    # yaml-language-server: $schema=../secrets.schema.yaml
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from keyvault_platform import schemas
from keyvault_platform.cli import conventions as cli
from keyvault_platform.core import plan as plans

KINDS = {"manifest": schemas.SECRETS, "environment": schemas.ENVIRONMENT}

EXAMPLES = [
    ("keyvault-platform schema", "the manifest schema on stdout"),
    ("keyvault-platform schema --write secrets.schema.yaml", "refresh the copy editors read"),
    ("keyvault-platform schema environment --format json", "the environment file schema as JSON"),
]


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "schema" if subcommands is not None else "keyvault-platform schema",
        "Print a JSON Schema: manifests (default) or environment files.",
        examples=EXAMPLES,
        plan_flag=False,
        subcommands=subcommands,
    )
    parser.add_argument("kind", nargs="?", choices=sorted(KINDS), default="manifest")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--write", type=Path, metavar="FILE", help="write it to FILE instead")
    return parser


def schema_document(kind: str, *, as_json: bool = False) -> str:
    """The schema of ``kind`` as text: the packaged YAML as is, or JSON."""
    text = schemas.schema_text(KINDS[kind])
    if not as_json:
        return text
    return json.dumps(yaml.safe_load(text), indent=2, ensure_ascii=False) + "\n"


def main(args: argparse.Namespace, out: cli.Output) -> int:
    text = schema_document(args.kind, as_json=args.format == "json")
    if args.write is None:
        out.out.write(text)
        out.out.flush()
        return plans.EXIT_OK
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(text, encoding="utf-8")
    out.info(f"Wrote the {args.kind} schema to {args.write}")
    return plans.EXIT_OK
