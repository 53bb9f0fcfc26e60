"""Command line: ``python -m emulator serve | env | audit``."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .config import load_config
from .discovery import Discovery, DiscoveryUnreadable
from .statelock import StateDirectoryInUse

DEFAULT_STATE = Path(".state/emulator")

EXAMPLES = """\
examples:
  python -m emulator serve                        run in the foreground (state in .state/emulator)
  eval "$(python -m emulator env --identity app)" act as the managed identity `app` in this shell
  python -m emulator audit --vault kv-local       who did what to which secret (never values)
  python -m emulator audit --output json          the audit log as JSON lines

exit codes: 0 success, 1 error (for example: no emulator running, or `serve` on a
state directory another emulator already uses)
"""


def _log_level(args: argparse.Namespace) -> int:
    return logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO


def _serve(args: argparse.Namespace) -> int:
    from .server import Emulator

    logging.basicConfig(level=_log_level(args), format="%(asctime)s %(name)s %(message)s")
    config = load_config(Path(args.config) if args.config else None)
    if args.port is not None:
        config = config.with_changes(port=args.port)
    emulator = Emulator(config, state_dir=Path(args.state_dir), persist=not args.in_memory)
    state_option = "" if Path(args.state_dir) == DEFAULT_STATE else f" --state-dir {args.state_dir}"
    if not args.quiet:
        print(f"Key Vault emulator starting; state in {emulator.state_dir}", flush=True)
        print(f"CA certificate: {emulator.ca_path}", flush=True)
        print(
            f'Act as an identity with:  eval "$(python -m emulator{state_option} env '
            '--identity app)"',
            flush=True,
        )
    emulator.run()
    return 0


def _env(args: argparse.Namespace) -> int:
    environment = Discovery.read(Path(args.state_dir)).identity_environment(args.identity)
    for key, value in environment.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    found = Discovery.read(Path(args.state_dir))
    query = urllib.parse.urlencode(
        {k: v for k, v in (("vault", args.vault), ("plane", args.plane)) if v}
    )
    request = urllib.request.Request(
        f"{found.arm_url}/_emulator/audit?{query}",
        headers={"X-Emulator-Admin-Key": found.admin_key},
    )
    context = ssl.create_default_context(cafile=found.ca_path)
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        records = json.load(response)["value"]
    for record in records[-args.limit :]:
        if args.output == "json":
            print(json.dumps(record))
        else:
            target = record["secret"] or record["resource"]
            who = record["identity"] or record["principal"] or "-"
            print(
                f"{record['time']:.3f} {record['plane']:4} {record['status']:3} "
                f"{record['operation']:22} {who:10} {record['vault']} {target}"
            )
    return 0


def build_parser(prog: str = "python -m emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local Azure for Key Vault: managed identity, Resource Manager, secrets.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE),
        help="where the CA, keys and state live (default: %(default)s)",
    )
    # Also accepted after the subcommand (`serve --state-dir X`), as people type it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="store_true", help="print only warnings/errors")
    common.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the emulator in the foreground", parents=[common]
    )
    serve.add_argument("--config", help="YAML configuration (identities, vaults, limits)")
    serve.add_argument("--port", type=int, help="main port (ARM and tokens); 0 picks one")
    serve.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    serve.set_defaults(func=_serve)
    env = commands.add_parser(
        "env",
        parents=[common],
        help="print the environment to act as an identity against the running emulator",
        epilog='example: eval "$(python -m emulator env --identity app)"',
    )
    env.add_argument("--identity", default="app", help="deployer, sync, app, ... (default: app)")
    env.set_defaults(func=_env)
    audit = commands.add_parser(
        "audit", help="print the running emulator's audit log", parents=[common]
    )
    audit.add_argument("--vault", help="only this vault's records")
    audit.add_argument("--plane", choices=("data", "arm"), help="only the data plane or ARM")
    audit.add_argument("--limit", type=int, default=100, help="the last N records (default 100)")
    audit.add_argument("--output", choices=("text", "json"), default="text")
    audit.set_defaults(func=_audit)
    return parser


def main(argv: list[str] | None = None, *, prog: str = "python -m emulator") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, KeyError, DiscoveryUnreadable, StateDirectoryInUse) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
    except (urllib.error.URLError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
        print(
            f"error: cannot reach the emulator ({exc}); is it running? Start it with "
            "`make emulator`.",
            file=sys.stderr,
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
