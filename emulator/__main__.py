"""Command line: ``python -m emulator serve | env | audit``."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import re
import shlex
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .audit import audit_line
from .config import load_config
from .discovery import Discovery, DiscoveryUnreadable
from .escaping import EscapingFormatter
from .statelock import StateDirectoryInUse

DEFAULT_STATE = Path(".state/emulator")

EXAMPLES = """\
examples:
  python -m emulator serve                        run in the foreground (state in .state/emulator)
  eval "$(python -m emulator env --identity app)" act as the managed identity `app` in this shell
  python -m emulator audit --vault kv-local       who did what to which secret (never values)
  python -m emulator audit --output json          the audit log as JSON lines
  python -m emulator audit --since 10m --follow   the last ten minutes, then new records

exit codes: 0 success, 1 error (for example: no emulator running, or `serve` on a
state directory another emulator already uses)
"""


def _log_level(args: argparse.Namespace) -> int:
    return logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO


def _serve(args: argparse.Namespace) -> int:
    from .server import Emulator

    handler = logging.StreamHandler()
    # Log lines quote request paths and names: control characters are escaped.
    handler.setFormatter(EscapingFormatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=_log_level(args), handlers=[handler])
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


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_time(text: str, *, now: float | None = None) -> float:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise) or a duration ago."""
    duration = _DURATION.match(text.strip())
    if duration:
        ago = float(duration.group(1)) * _UNIT_S[duration.group(2)]
        return (time.time() if now is None else now) - ago
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected an ISO time (2026-12-04T10:00:00Z) or a duration "
            "(90s, 10m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _fetch_audit(
    found: Discovery, args: argparse.Namespace, since: float | None
) -> list[dict[str, object]]:
    filters = (("vault", args.vault), ("plane", args.plane), ("since", since))
    query = urllib.parse.urlencode({k: v for k, v in filters if v})
    request = urllib.request.Request(
        f"{found.arm_url}/_emulator/audit?{query}",
        headers={"X-Emulator-Admin-Key": found.admin_key},
    )
    context = ssl.create_default_context(cafile=found.ca_path)
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        records: list[dict[str, object]] = json.load(response)["value"]
    return records


def _print_record(record: dict[str, object], output: str) -> None:
    # JSON escapes control characters itself (ensure_ascii), so a line is a line.
    print(json.dumps(record) if output == "json" else audit_line(record), flush=True)


def _audit(args: argparse.Namespace) -> int:
    try:
        return _print_audit(args)
    except KeyboardInterrupt:  # Ctrl-C is how a tail ends, whenever it comes
        return 0 if args.follow else 130


def _print_audit(args: argparse.Namespace) -> int:
    found = Discovery.read(Path(args.state_dir))
    records = _fetch_audit(found, args, args.since)
    shown = records[-args.limit :] if args.limit else records
    for record in shown:
        _print_record(record, args.output)
    if not args.follow:
        return 0
    # Tail: ask for what is at or after the newest time seen, and skip what was
    # printed at exactly that time (records can share a timestamp).
    latest = max((float(str(r["time"])) for r in records), default=time.time())
    printed_at_latest = {json.dumps(r, sort_keys=True) for r in records if r["time"] == latest}
    while True:
        time.sleep(args.follow_interval)
        for record in _fetch_audit(found, args, latest):
            stamp = float(str(record["time"]))
            key = json.dumps(record, sort_keys=True)
            if stamp == latest and key in printed_at_latest:
                continue
            if stamp > latest:
                latest, printed_at_latest = stamp, set()
            printed_at_latest.add(key)
            _print_record(record, args.output)


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
    audit.add_argument(
        "--limit", type=int, default=100, help="the last N records (default 100; 0: all)"
    )
    audit.add_argument(
        "--since",
        type=since_time,
        help="only records from this time on: ISO 8601 (UTC unless marked) or a duration ago "
        "(90s, 10m, 2h, 1d)",
    )
    audit.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new records until Ctrl-C"
    )
    audit.add_argument("--follow-interval", type=float, default=0.5, help=argparse.SUPPRESS)
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
