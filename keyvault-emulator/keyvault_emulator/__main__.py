"""Command line: ``keyvault-emulator serve | env | audit | identity | clock | config``.

``python -m keyvault_emulator`` and ``keyvault-platform emulator`` run the same.
Every command but ``serve`` and ``config`` talks to the emulator already
serving the state directory, found through its discovery file.
"""

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
from typing import Any

from .audit import audit_line
from .clock import parse_duration
from .config import load_config
from .config_file import ConfigError, example_text
from .discovery import Discovery, DiscoveryUnreadable
from .escaping import EscapingFormatter
from .statelock import StateDirectoryInUse

DEFAULT_STATE = Path(".state/emulator")
PROG = "keyvault-emulator"

EXAMPLES = """\
examples:
  {prog} serve                          run in the foreground (state in .state/emulator)
  {prog} serve --config emulator.yaml   with identities, vaults and secrets from a file
  eval "$({prog} env --identity app)"   act as the managed identity `app` in this shell
  {prog} identity add billing --role "Key Vault Secrets User" --vault kv-app-local
  {prog} clock advance 30d              move the emulator's clock 30 days forward
  {prog} audit --vault kv-local         who did what to which secret (never values)
  {prog} audit --since 10m --follow     the last ten minutes, then new records
  {prog} config example > emulator.yaml a configuration using every key

exit codes: 0 success, 1 error (for example: no emulator running, a bad
configuration file, or `serve` on a state directory another emulator already uses)
"""


def _log_level(args: argparse.Namespace) -> int:
    return logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO


def _serve(args: argparse.Namespace) -> int:
    # The whole file is checked before anything starts.
    config = load_config(Path(args.config) if args.config else None)
    from .server import Emulator

    handler = logging.StreamHandler()
    # Log lines quote request paths and names: control characters are escaped.
    handler.setFormatter(EscapingFormatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=_log_level(args), handlers=[handler])
    if args.port is not None:
        config = config.with_changes(port=args.port)
    emulator = Emulator(config, state_dir=Path(args.state_dir), persist=not args.in_memory)
    state_option = "" if Path(args.state_dir) == DEFAULT_STATE else f" --state-dir {args.state_dir}"
    if not args.quiet:
        print(f"Key Vault emulator starting; state in {emulator.state_dir}", flush=True)
        print(f"CA certificate: {emulator.ca_path}", flush=True)
        print(
            f'Act as an identity with:  eval "$({args.prog}{state_option} env --identity app)"',
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


def _admin(found: Discovery, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
    """One admin API call to the running emulator (its key and CA from discovery)."""
    request = urllib.request.Request(
        f"{found.arm_url}/_emulator/{action}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"X-Emulator-Admin-Key": found.admin_key, "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=found.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as refused:
        try:
            message = json.load(refused)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {refused.code}"
        raise AdminRefused(message) from None


class AdminRefused(Exception):
    """The emulator answered an admin call with an error (its message)."""


def _identity_add(args: argparse.Namespace) -> int:
    if (args.scope or args.vault) and not args.role:
        raise AdminRefused("--scope and --vault say where a role applies: give --role too")
    if args.role and not (args.scope or args.vault):
        raise AdminRefused("--role needs --vault NAME or --scope RESOURCE_ID")
    found = Discovery.read(Path(args.state_dir))
    scope = args.scope
    if args.vault:
        vault = found.vaults.get(args.vault)
        if vault is None:
            known = ", ".join(sorted(found.vaults)) or "(none)"
            raise AdminRefused(f"no vault {args.vault!r} in the emulator; it has: {known}")
        scope = vault.resource_id
    body: dict[str, Any] = {"name": args.name, "principal_type": args.principal_type}
    added = _admin(found, "POST", "identities", body)
    print(f"identity {added['name']}: object id {added['object_id']}")
    if args.role:
        _admin(
            found,
            "POST",
            "role-assignments",
            {"identity": args.name, "role": args.role, "scope": scope},
        )
        print(f"role {args.role!r} at {scope}")
    state_option = "" if Path(args.state_dir) == DEFAULT_STATE else f" --state-dir {args.state_dir}"
    print(f'act as it:  eval "$({args.prog}{state_option} env --identity {args.name})"')
    return 0


def _identity_list(args: argparse.Namespace) -> int:
    found = Discovery.read(Path(args.state_dir))
    for identity in sorted(found.identities.values(), key=lambda i: i.name):
        print(f"{identity.name:20} {identity.object_id}  {identity.principal_type}")
    return 0


def _clock_show(args: argparse.Namespace) -> int:
    _print_clock(_admin(Discovery.read(Path(args.state_dir)), "GET", "clock"))
    return 0


def _clock_advance(args: argparse.Namespace) -> int:
    seconds = parse_duration(args.duration)
    found = Discovery.read(Path(args.state_dir))
    _print_clock(_admin(found, "POST", "clock", {"advance": seconds}))
    return 0


def _print_clock(state: dict[str, float]) -> None:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(state["now"], dt.UTC).isoformat(timespec="seconds")
    print(f"emulator time {moment} (ahead of this machine by {state['offset_s']:g} s)")


def _config_check(args: argparse.Namespace) -> int:
    config = load_config(Path(args.file))
    print(
        f"{args.file}: fine ({len(config.identities)} identities, {len(config.vaults)} vaults, "
        f"{sum(len(v.secrets) for v in config.vaults)} secrets, "
        f"{len(config.role_assignments)} role assignments)"
    )
    return 0


def _config_example(args: argparse.Namespace) -> int:
    sys.stdout.write(example_text())
    return 0


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local Azure for Key Vault: managed identity, Resource Manager, secrets.",
        epilog=EXAMPLES.format(prog=prog),
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
    serve.add_argument(
        "--config", help="YAML configuration (docs/emulator.md; `config example` prints one)"
    )
    serve.add_argument("--port", type=int, help="main port (ARM and tokens); 0 picks one")
    serve.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    serve.set_defaults(func=_serve)
    env = commands.add_parser(
        "env",
        parents=[common],
        help="print the environment to act as an identity against the running emulator",
        epilog=f'example: eval "$({prog} env --identity app)"',
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
    _add_identity_commands(commands, common, prog)
    _add_clock_commands(commands, common)
    _add_config_commands(commands, common)
    parser.set_defaults(prog=prog)
    return parser


def _add_identity_commands(commands: Any, common: argparse.ArgumentParser, prog: str) -> None:
    identity = commands.add_parser(
        "identity", help="add or list the running emulator's identities"
    ).add_subparsers(dest="identity_command", required=True)
    add = identity.add_parser(
        "add",
        parents=[common],
        help="declare a managed identity now, optionally with a role",
        epilog=f'example: {prog} identity add billing --role "Key Vault Secrets User" '
        "--vault kv-app-local",
    )
    add.add_argument("name", help="the identity's name (its ids are derived from it)")
    add.add_argument("--role", help='a built-in role, e.g. "Key Vault Secrets User"')
    where = add.add_mutually_exclusive_group()
    where.add_argument("--vault", help="the role applies to this vault")
    where.add_argument("--scope", help="the role applies at this resource id")
    add.add_argument(
        "--principal-type",
        default="ServicePrincipal",
        choices=("ServicePrincipal", "User", "Group"),
    )
    add.set_defaults(func=_identity_add)
    listing = identity.add_parser("list", parents=[common], help="name, object id, type")
    listing.set_defaults(func=_identity_list)


def _add_clock_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    clock = commands.add_parser(
        "clock", help="show or move forward the running emulator's clock"
    ).add_subparsers(dest="clock_command", required=True)
    clock.add_parser("show", parents=[common], help="the emulator's time").set_defaults(
        func=_clock_show
    )
    advance = clock.add_parser(
        "advance",
        parents=[common],
        help="move the clock forward: expiry, purge dates and tokens see the new time",
    )
    advance.add_argument("duration", help="30d, 12h, 90m, 45s, 2w, or seconds")
    advance.set_defaults(func=_clock_advance)


def _add_config_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    config = commands.add_parser(
        "config", help="check a configuration file, or print an example"
    ).add_subparsers(dest="config_command", required=True)
    check = config.add_parser(
        "check", parents=[common], help="report every problem in FILE (starts nothing)"
    )
    check.add_argument("file")
    check.set_defaults(func=_config_check)
    config.add_parser(
        "example", parents=[common], help="print a configuration that uses every key"
    ).set_defaults(func=_config_example)


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as bad:
        print(f"error: {bad}", file=sys.stderr)
    except (ValueError, AdminRefused) as refused:
        print(f"error: {refused}", file=sys.stderr)
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
    sys.exit(main(prog="python -m keyvault_emulator"))
